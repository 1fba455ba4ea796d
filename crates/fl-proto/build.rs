//! Compiles `proto/fl/v1/*.proto` (repo root) with protox, a pure-Rust protobuf compiler, so the
//! build needs no system `protoc`.

use std::path::PathBuf;

const FILES: &[&str] = &["fl/v1/federation.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    for f in FILES {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    // protox keeps source info, so the .proto comments become rustdoc on the generated items.
    let fds = protox::compile(FILES, [&root])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Chunk payloads are `bytes::Bytes`: a served model is sliced into chunks without copying.
        .bytes(".fl.v1.ModelChunk.data")
        .bytes(".fl.v1.DataChunk.data")
        .compile_fds(fds)?;
    Ok(())
}
