//! Compiles `proto/judge/v1/*.proto` with protox, a pure-Rust protobuf compiler, so building
//! needs no system `protoc`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "../proto/judge/v1/common.proto",
        "../proto/judge/v1/worker.proto",
        "../proto/judge/v1/judge.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["../proto"])?;
    // The descriptors themselves, for the scheduler's gRPC server reflection.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("judge_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        // `Connect` is an RPC name; the transport helper of the same name would clash.
        .build_transport(false)
        .bytes(".judge.v1.FileChunk.data")
        .bytes(".judge.v1.FileData.data")
        .compile_fds(fds)?;
    Ok(())
}
