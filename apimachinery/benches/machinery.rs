//! `make bench`: how fast the hot pure paths of the API machinery are. Every list and watch
//! event the apiserver filters runs a selector match; every scheduling decision adds
//! quantities. Prints one line per case: operations per second over a fixed count.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;
use tinykube_apimachinery::labels::Selector;
use tinykube_apimachinery::quantity::Quantity;

fn measure(name: &str, iterations: u32, mut op: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..iterations {
        op();
    }
    let elapsed = start.elapsed();
    let per_second = f64::from(iterations) / elapsed.as_secs_f64();
    println!(
        "{name:<40} {iterations:>9} ops in {:>8.2} ms  {per_second:>14.0} ops/s",
        elapsed.as_secs_f64() * 1000.0
    );
}

fn main() {
    let labels: BTreeMap<String, String> = [
        ("app", "web"),
        ("tier", "frontend"),
        ("pod-template-hash", "5d9c7b8f6"),
        ("app.kubernetes.io/version", "1.2.3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let selector = Selector::parse("app=web,tier in (frontend,backend),!canary").unwrap();

    measure("label selector parse", 200_000, || {
        black_box(Selector::parse(black_box("app=web,tier in (frontend,backend),!canary")).ok());
    });
    measure("label selector match", 2_000_000, || {
        black_box(selector.matches(black_box(&labels)));
    });
    measure("quantity parse (500m, 1Gi, 1e3)", 500_000, || {
        for text in ["500m", "1Gi", "1e3"] {
            black_box(black_box(text).parse::<Quantity>().ok());
        }
    });
    let a: Quantity = "1536Mi".parse().unwrap();
    let b: Quantity = "250m".parse().unwrap();
    measure("quantity add + compare", 2_000_000, || {
        let sum = black_box(a.clone()) + black_box(b.clone());
        black_box(sum > a);
    });
}
