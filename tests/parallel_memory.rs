//! Buffers of B bytes on W workers cost about B, not W·B: the workers map
//! the same pages. Measured with the proportional set size of shared memory
//! (Pss_Shmem in /proc/self/smaps_rollup), alone in its own test binary.

// The shared helpers of tests/all; this binary uses only some of them.
#[allow(dead_code)]
#[path = "all/parallel_util.rs"]
mod parallel_util;

use parallel_util::*;

fn pss_shmem_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    s.lines()
        .find(|l| l.starts_with("Pss_Shmem:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn rss_shmem_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("RssShmem:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn rss_anon_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn count_mappings_of_buffers() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| {
            m.lines()
                .filter(|l| l.contains("wasi-parallel-buffer"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn shared_buffers_cost_b_not_w_times_b() {
    let Some(before) = pss_shmem_kib() else {
        eprintln!("no /proc/self/smaps_rollup: skipped");
        return;
    };
    let workers = 4usize;
    let rt = runtime_threads(workers);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    let b = 32usize << 20;
    let buf = g.create_buffer(dev, b as u32, READ_WRITE).unwrap();
    // touch every page from the host side
    let page = vec![1u8; 1 << 20];
    let data: Vec<u8> = page.iter().cycle().take(b).copied().collect();
    assert_eq!(g.write_buffer(buf, &data), 0);
    // every iteration (so every worker) touches every page of the buffer
    let iters = 64u32;
    let out = g.create_buffer(dev, iters * 4, WRITE).unwrap();
    assert_eq!(g.exec(dev, &wat("touch"), iters, 1, &[buf], &[out]), 0);
    let sums = bytes_to_u32s(&g.read_buffer(out, iters as usize * 4).unwrap());
    assert!(sums.iter().all(|s| *s == (b / 4096) as u32));
    let st = g.ctx().stats();
    assert_eq!(st.recent_calls.back().unwrap().workers, workers);
    let after = pss_shmem_kib().unwrap();
    let grown_kib = after.saturating_sub(before);
    let b_kib = (b >> 10) as u64;
    eprintln!(
        "Pss_Shmem grew by {grown_kib} KiB for a {b_kib} KiB buffer on {workers} workers; RssShmem {:?} KiB; {} mappings",
        rss_shmem_kib(),
        count_mappings_of_buffers()
    );
    assert!(
        grown_kib < b_kib + b_kib / 2,
        "buffer pages cost {grown_kib} KiB, more than ~B = {b_kib} KiB"
    );
    // each worker maps the buffer: the memfd appears once per worker window
    assert!(count_mappings_of_buffers() >= workers);

    // A kernel declaring a big own region (R = 64 MiB) that it does not
    // touch costs next to nothing per worker: wasmi's zero-fill of a new
    // memory lands on scratch pages, the region gets fresh zero pages.
    let before = rss_anon_kib().unwrap();
    let big_r = wat::parse_str(
        r#"(module (memory (import "" "memory") 1024)
            (func (export "kernel") (param i32 i32 i32 i32 i32)
              (i32.store (i32.add (local.get 3) (i32.shl (local.get 0) (i32.const 2)))
                (i32.mul (local.get 0) (i32.const 3)))))"#,
    )
    .unwrap();
    let out = g.create_buffer(dev, 4 * 64, WRITE).unwrap();
    assert_eq!(g.exec(dev, &big_r, 64, 1, &[], &[out]), 0);
    let got = bytes_to_u32s(&g.read_buffer(out, 4 * 64).unwrap());
    assert_eq!(got, (0..64).map(|i| i * 3).collect::<Vec<u32>>());
    assert_eq!(
        g.ctx().stats().recent_calls.back().unwrap().workers,
        workers
    );
    let grown = rss_anon_kib().unwrap().saturating_sub(before);
    eprintln!("RssAnon grew by {grown} KiB for {workers} workers with R = 64 MiB");
    assert!(
        grown < 32 << 10,
        "untouched private regions cost {grown} KiB"
    );
}
