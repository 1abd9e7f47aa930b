//! Micro-benchmarks of the per-push protocol work: signature check, decrypt, XML parse, and the
//! whole opening of a safe-mode push. `cargo bench --bench protocol`.
// Benchmark code on fixed, known-good inputs: a failed expect is a broken benchmark.
#![allow(clippy::expect_used)]

use cardhook::wechat::crypto::{self, AesKey};
use cardhook::wechat::seal::Sealer;
use cardhook::wechat::{events, query, signature, xml, Mode};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wxb11529c136998cb6";
const GET_CARD: &str = include_str!("../fixtures/push/user_get_card.xml");

fn protocol(c: &mut Criterion) {
    let key = AesKey::from_encoding_aes_key(KEY).expect("key");
    let sealer = Sealer {
        token: "pamtest",
        appid: APPID,
        aes_key: Some(&key),
    };
    let sealed = sealer
        .seal(GET_CARD, Mode::Safe, 1_700_000_000, "260774613", &[7; 16])
        .expect("seal");
    let q = query::parse(&sealed.query).expect("query");
    let encrypt = xml::parse_envelope(&sealed.body)
        .expect("envelope")
        .encrypt
        .expect("Encrypt");
    let msg_signature = q.msg_signature.clone().expect("msg_signature");

    c.bench_function("signature check (msg_signature, 4 parts)", |b| {
        b.iter(|| {
            signature::verify_msg_signature(
                black_box(&msg_signature),
                "pamtest",
                &q.timestamp,
                &q.nonce,
                &encrypt,
            )
        })
    });
    c.bench_function("decrypt (base64 + AES-256-CBC + checks, 1 push)", |b| {
        b.iter(|| crypto::decrypt(&key, black_box(&encrypt), APPID))
    });
    c.bench_function("XML parse to a typed event (user_get_card)", |b| {
        b.iter(|| events::parse(black_box(GET_CARD)))
    });
    c.bench_function(
        "open a safe-mode push (query, 2 signatures, envelope, decrypt, parse)",
        |b| {
            b.iter(|| {
                let q = query::parse(black_box(&sealed.query)).expect("query");
                signature::verify_signature(&q.signature, "pamtest", &q.timestamp, &q.nonce)
                    .expect("signature");
                let encrypt = xml::parse_envelope(&sealed.body)
                    .expect("envelope")
                    .encrypt
                    .expect("Encrypt");
                let ms = q.msg_signature.as_deref().expect("msg_signature");
                signature::verify_msg_signature(ms, "pamtest", &q.timestamp, &q.nonce, &encrypt)
                    .expect("msg_signature");
                events::parse(&crypto::decrypt(&key, &encrypt, APPID).expect("decrypt"))
                    .expect("parse")
            })
        },
    );
}

criterion_group!(benches, protocol);
criterion_main!(benches);
