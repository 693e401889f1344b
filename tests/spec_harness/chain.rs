//! Stateful modules whose state is their memory alone, run as a chain of
//! kernels over consecutive stretches of actions ("segments").
//!
//! Iterations of one dispatch run in parallel, each on its own copy of the
//! spec memory, so iteration `k` first replays the earlier actions that
//! change state. Grouping by export alone, every kernel would replay (and
//! contain) every earlier export: for a file like `left-to-right.wast`,
//! whose 95 exports all write memory, that made each kernel larger than the
//! one before and the driver's compile time quadratic in the file. Here a
//! segment's kernel holds only the segment's exports: its iterations start
//! from the memory the previous segment left behind, which the same device
//! computed (the snapshot iteration: the first action of the next segment,
//! its own call left out, replays the whole segment; its memory copy is
//! read back). No engine's results feed another's.

use super::exec::{resolved, KernelFill, Outcome, Runner};
use super::kernel::Prepared;
use super::plan::Action;

/// What the dispatches of one segment start from.
pub(super) struct Segment {
    /// The memory every iteration starts from (the state before the segment).
    pub image: Vec<u8>,
    /// The `tab` buffer: no replay of actions before the segment, and the
    /// snapshot iteration's own call left out.
    pub tab: Vec<u8>,
    /// The iteration whose memory becomes the next segment's image.
    pub snapshot: Option<usize>,
    /// The selectors the segment's actions use (a snapshot is only taken
    /// by a kernel holding all of them).
    pub need: Vec<bool>,
    /// The snapshot, once taken (or why it could not be).
    pub next: Option<Result<Vec<u8>, String>>,
}

/// Consecutive stretches of `all` (ascending), each using the exports one
/// kernel may hold ([`KernelFill`]).
fn segments(prep: &Prepared, all: &[usize], budget: Option<u64>) -> Vec<Vec<usize>> {
    let mut fill = KernelFill::new(budget);
    let mut segs: Vec<Vec<usize>> = vec![Vec::new()];
    let mut sels: Vec<usize> = Vec::new();
    for &k in all {
        let s = resolved(prep, k).sel;
        if !sels.contains(&s) {
            if fill.add(prep.selector_cost(s)) {
                segs.push(Vec::new());
                sels.clear();
            }
            sels.push(s);
        }
        segs.last_mut().expect("a segment").push(k);
    }
    segs.retain(|s| !s.is_empty());
    segs
}

impl Runner {
    /// Runs the actions `all` of a module whose state is its memory alone
    /// ([`Prepared::memory_only_state`]) segment by segment.
    pub(super) fn run_chained(
        &self,
        prep: &Prepared,
        actions: &[Action],
        all: &[usize],
        out: &mut [Option<Outcome>],
        cap: u64,
    ) {
        let mem = prep.mem.as_ref().expect("a stateful module has memory");
        let mut image = mem.image.clone();
        let segs = segments(prep, all, self.segment_cost.get());
        for (n, seg) in segs.iter().enumerate() {
            let snapshot = segs.get(n + 1).map(|s| s[0]);
            let mut tab = prep.tab.clone();
            for k in 0..seg[0] {
                tab[k * prep.rec..k * prep.rec + 4].fill(0);
            }
            if let Some(j) = snapshot {
                let r = j * prep.rec;
                tab[r..r + 4].fill(0);
                tab[r + 4..r + 8].copy_from_slice(&u32::MAX.to_le_bytes());
            }
            let mut need = vec![false; prep.num_selectors()];
            for &k in seg {
                need[resolved(prep, k).sel] = true;
            }
            *self.segment.borrow_mut() = Some(Segment {
                image: image.clone(),
                tab,
                snapshot,
                need: need.clone(),
                next: None,
            });
            self.run_declinable(prep, actions, &need, seg, out, cap);
            let taken = self.segment.borrow_mut().take().and_then(|s| s.next);
            if snapshot.is_none() {
                break;
            }
            match taken {
                Some(Ok(m)) => image = m,
                other => {
                    let why = match other {
                        Some(Err(e)) => format!("the memory after earlier actions: {e}"),
                        _ => "the memory after earlier actions is not available (their \
                              kernel was declined)"
                            .to_string(),
                    };
                    for later in &segs[n + 1..] {
                        for &k in later {
                            out[k] = Some(Outcome::Unsupported(why.clone()));
                        }
                    }
                    break;
                }
            }
        }
    }
}
