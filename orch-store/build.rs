//! Compiles etcd's v3 API subset (`proto/etcdserverpb.proto`, feature
//! `etcd-api`) and the Raft peer service (`proto/raftpeerpb.proto`, feature
//! `raft`) with protox — no `protoc` needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "etcd-api")]
    {
        println!("cargo:rerun-if-changed=proto/etcdserverpb.proto");
        let fds = protox::compile(["etcdserverpb.proto"], ["proto"])?;
        tonic_prost_build::configure().build_client(false).compile_fds(fds)?;
    }
    #[cfg(feature = "raft")]
    {
        println!("cargo:rerun-if-changed=proto/raftpeerpb.proto");
        let fds = protox::compile(["raftpeerpb.proto"], ["proto"])?;
        tonic_prost_build::configure().compile_fds(fds)?;
    }
    Ok(())
}
