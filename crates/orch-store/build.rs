//! Compiles etcd's v3 API subset (`proto/etcdserverpb.proto`) with protox —
//! no `protoc` needed — when the `etcd-api` feature is on.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "etcd-api")]
    {
        println!("cargo:rerun-if-changed=proto/etcdserverpb.proto");
        let fds = protox::compile(["etcdserverpb.proto"], ["proto"])?;
        tonic_prost_build::configure().build_client(false).compile_fds(fds)?;
    }
    Ok(())
}
