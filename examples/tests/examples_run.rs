//! Each example runs to completion and says what it did.

use std::process::Command;

fn run_example(name: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["run", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "example {name} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_custom_controller_example_manages_its_pages() {
    let out = run_example("custom_controller");
    assert!(out.contains("created, updated and deleted"), "{out}");
}

#[test]
fn the_cluster_example_applies_the_default_manifest() {
    let out = run_example("cluster");
    assert!(out.contains("applied Deployment default/web"), "{out}");
}

#[test]
fn the_cluster_example_refuses_a_bad_manifest_with_exit_code_2() {
    let path = std::env::temp_dir().join(format!("orch-bad-{}.yaml", std::process::id()));
    std::fs::write(
        &path,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: three}\n",
    )
    .expect("temp file");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["run", "--quiet", "--example", "cluster", "--", "--manifest"])
        .arg(&path)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("manifest document 0 (Deployment web): spec.replicas"), "{stderr}");
}

#[test]
fn the_custom_plugin_example_places_the_pod_on_the_cheapest_node() {
    let out = run_example("custom_plugin");
    assert!(out.contains("web-0 was placed on spot-1"), "{out}");
}
