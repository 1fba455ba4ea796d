//! End-to-end over real gRPC on 127.0.0.1: a 10 MB model and a 10 MB update (both above
//! tonic's 4 MiB single-message limit) travel in chunks, and malformed upload streams get the
//! documented status codes.

mod common;

use common::{header, start};
use fl_proto::pb::federation_client::FederationClient;
use fl_proto::pb::{self, update_chunk::Kind};
use fl_proto::{
    DEFAULT_CHUNK_SIZE, ModelReassembler, Payload, le_bytes_to_f32s, receive_model, sha256_hex,
};
use tonic::Code;
use tonic::Status;
use tonic::transport::Channel;

/// Update limit of the test server (just above the 10 MB payload).
const MAX_UPDATE: u64 = 12_000_000;

/// 10 MB of f32 values that are not all equal (2.5 M parameters).
fn big_params() -> Vec<f32> {
    (0..2_500_000u32)
        .map(|i| (i % 1000) as f32 * 0.001 - 0.5)
        .collect()
}

fn data(offset: u64, bytes: Vec<u8>) -> pb::UpdateChunk {
    pb::UpdateChunk {
        kind: Some(Kind::Data(pb::DataChunk {
            offset,
            data: bytes.into(),
        })),
    }
}

fn raw_header(h: pb::UpdateHeader) -> pb::UpdateChunk {
    pb::UpdateChunk {
        kind: Some(Kind::Header(h)),
    }
}

async fn submit(client: &mut FederationClient<Channel>, chunks: Vec<pb::UpdateChunk>) -> Status {
    match client.submit_update(tokio_stream::iter(chunks)).await {
        Ok(r) => panic!("malformed stream accepted: {:?}", r.into_inner()),
        Err(status) => status,
    }
}

#[tokio::test]
async fn ten_megabyte_update_streams_in_chunks() {
    let mut client = start(Payload::new(Vec::new()), MAX_UPDATE, true).await;
    let params = big_params();
    let payload = Payload::from_f32s(&params);
    assert!(payload.len() > 4 << 20);
    let chunks = payload.update_chunks(header(params.len() as u64), DEFAULT_CHUNK_SIZE);
    assert_eq!(chunks.len(), 1 + 10);
    let reply = client
        .submit_update(tokio_stream::iter(chunks))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.accepted);
    let sum: f64 = params.iter().map(|&p| f64::from(p)).sum();
    assert_eq!(
        reply.message,
        format!("{} {} {sum}", params.len(), payload.sha256())
    );
}

#[tokio::test]
async fn ten_megabyte_model_downloads_in_chunks() {
    let params = big_params();
    let model = Payload::from_f32s(&params);
    let mut client = start(model.clone(), MAX_UPDATE, true).await;
    let request = pb::DownloadModelRequest {
        model_version: 9,
        ..Default::default()
    };

    // Chunk by chunk, to see the chunking itself.
    let mut stream = client
        .download_model(request.clone())
        .await
        .unwrap()
        .into_inner();
    let mut rx = ModelReassembler::new(model.len());
    let mut count = 0;
    while let Some(chunk) = stream.message().await.unwrap() {
        assert!(chunk.data.len() <= DEFAULT_CHUNK_SIZE);
        count += 1;
        rx.push(chunk).unwrap();
    }
    assert_eq!(count, 10);
    let got = rx.finish().unwrap();
    assert_eq!(
        (got.model_version, got.sha256.as_str()),
        (9, model.sha256())
    );
    assert_eq!(le_bytes_to_f32s(&got.bytes).unwrap(), params);

    // Through the async helper, with a limit below the model size.
    let mut stream = client.download_model(request).await.unwrap().into_inner();
    let status = receive_model(&mut stream, model.len() - 1)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn malformed_update_streams_get_their_status_codes() {
    let mut client = start(Payload::new(Vec::new()), MAX_UPDATE, true).await;
    let payload = Payload::from_f32s(&[1.0; 64]);
    let bytes = payload.bytes().to_vec();
    let good_header = || {
        let mut h = header(64);
        h.total_len = payload.len();
        h.sha256 = payload.sha256().to_owned();
        h
    };

    let s = submit(
        &mut client,
        vec![data(0, bytes.clone()), raw_header(good_header())],
    )
    .await;
    assert_eq!(
        s.code(),
        Code::FailedPrecondition,
        "data before header: {s:?}"
    );

    let s = submit(&mut client, vec![]).await;
    assert_eq!(s.code(), Code::FailedPrecondition, "empty stream: {s:?}");

    let s = submit(
        &mut client,
        vec![raw_header(good_header()), raw_header(good_header())],
    )
    .await;
    assert_eq!(s.code(), Code::FailedPrecondition, "two headers: {s:?}");

    let s = submit(
        &mut client,
        vec![raw_header(good_header()), data(0, bytes[..100].to_vec())],
    )
    .await;
    assert_eq!(s.code(), Code::DataLoss, "truncated: {s:?}");
    assert!(s.message().contains("ended after 100 of 256"), "{s:?}");

    let mut wrong_sum = good_header();
    wrong_sum.sha256 = sha256_hex(b"something else");
    let s = submit(
        &mut client,
        vec![raw_header(wrong_sum), data(0, bytes.clone())],
    )
    .await;
    assert_eq!(s.code(), Code::DataLoss, "checksum: {s:?}");
    assert!(s.message().contains("SHA-256 mismatch"), "{s:?}");

    let mut oversized = good_header();
    oversized.total_len = MAX_UPDATE + 1;
    let s = submit(
        &mut client,
        vec![raw_header(oversized), data(0, bytes.clone())],
    )
    .await;
    assert_eq!(s.code(), Code::ResourceExhausted, "oversized: {s:?}");

    let s = submit(
        &mut client,
        vec![raw_header(good_header()), data(4, bytes.clone())],
    )
    .await;
    assert_eq!(s.code(), Code::InvalidArgument, "gap: {s:?}");

    let extra = vec![
        raw_header(good_header()),
        data(0, bytes.clone()),
        data(256, vec![0; 4]),
    ];
    let s = submit(&mut client, extra).await;
    assert_eq!(s.code(), Code::OutOfRange, "data after completion: {s:?}");

    let mut bad_session = good_header();
    bad_session.session_token = "stolen".into();
    let s = submit(
        &mut client,
        vec![raw_header(bad_session), data(0, bytes.clone())],
    )
    .await;
    assert_eq!(s.code(), Code::Unauthenticated, "header check: {s:?}");

    // The same stream, well formed, is accepted by the same server.
    let ok = client.submit_update(tokio_stream::iter(
        payload.update_chunks(good_header(), 100),
    ));
    assert!(ok.await.unwrap().into_inner().accepted);
}
