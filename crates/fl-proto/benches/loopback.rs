//! Loopback throughput of chunked model download and update upload over real gRPC
//! (127.0.0.1, plaintext), including SHA-256 and reassembly on the receiving side (but not
//! decoding the bytes as f32).
//!
//! Run with: `cargo bench -p fl-proto --bench loopback` (optionally `-- <MB> <reps>`).
//! Prints the median of `reps` runs per direction; loopback numbers on a shared machine are
//! noisy, which is why only medians are reported.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use fl_proto::pb::DownloadModelRequest;
use fl_proto::{DEFAULT_CHUNK_SIZE, Payload, receive_model};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let mb: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let reps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7).max(1);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let params: Vec<f32> = (0..mb * 250_000).map(|i| (i % 977) as f32 * 1e-3).collect();
        let payload = Payload::from_f32s(&params);
        let bytes = payload.len();
        let mut client = common::start(payload.clone(), bytes, false).await;

        let mut up = Vec::new();
        let mut down = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let chunks =
                payload.update_chunks(common::header(params.len() as u64), DEFAULT_CHUNK_SIZE);
            let reply = client
                .submit_update(tokio_stream::iter(chunks))
                .await
                .expect("upload");
            assert!(reply.into_inner().accepted);
            up.push(t.elapsed());

            let t = Instant::now();
            let request = DownloadModelRequest {
                model_version: 1,
                ..Default::default()
            };
            let mut stream = client
                .download_model(request)
                .await
                .expect("download")
                .into_inner();
            let model = receive_model(&mut stream, bytes)
                .await
                .expect("verified model");
            assert_eq!(model.bytes.len() as u64, bytes);
            down.push(t.elapsed());
        }
        for (name, times) in [("upload  ", up), ("download", down)] {
            let m = median(times);
            let mib_s = bytes as f64 / (1 << 20) as f64 / m.as_secs_f64();
            println!("{name} {bytes} bytes: median {m:.1?} over {reps} runs = {mib_s:.0} MiB/s");
        }
    });
}
