//! Model-based test: random sequences of writes (master and shadow),
//! enables/disables, copies and updates in both directions, aborts, suspends,
//! group operations and restarts, checked against a plain in-memory model of
//! what every master and shadow must read, byte for byte, after every step.
//!
//! The model follows the engine on whether an operation was accepted (an
//! operation may legitimately be refused, e.g. while a copy runs), and checks
//! the refusal is one of the expected kinds. `NATIVE_LONG=1` runs more seeds
//! and steps.

use crate::common::*;
use native::*;
use rand::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

struct SetDef {
    master: usize,
    shadow: PathBuf,
    bitmap: PathBuf,
    kind: SetKind,
    overflow: Option<PathBuf>,
}

struct World {
    env: Env,
    masters: Vec<PathBuf>,
    sets: Vec<SetDef>,
    eng: Option<Engine>,
    mdev: Vec<Arc<dyn BlockDevice>>,
    // model
    m: Vec<Vec<u8>>,
    sh: Vec<Vec<u8>>,
    enabled: Vec<bool>,
}

impl World {
    fn eng(&self) -> &Engine {
        self.eng.as_ref().unwrap()
    }
    fn reopen(&mut self) {
        self.mdev.clear();
        self.eng = None;
        let e = self.env.open();
        self.mdev = self.masters.iter().map(|m| e.device(m).unwrap()).collect();
        self.eng = Some(e);
    }
    fn enable(&mut self, j: usize) -> Result<()> {
        let d = &self.sets[j];
        let mut sp = spec(&self.masters[d.master], &d.shadow, &d.bitmap, d.kind);
        sp.overflow = d.overflow.clone();
        self.eng().enable_set(sp)?;
        self.enabled[j] = true;
        self.sh[j] = self.m[self.sets[j].master].clone();
        Ok(())
    }
    fn check(&self, step: usize, what: &str) {
        for (i, d) in self.mdev.iter().enumerate() {
            let got = read_all(d);
            assert!(
                got == self.m[i],
                "step {step} ({what}): master {i} differs at {:?}",
                first_diff(&got, &self.m[i])
            );
        }
        for (j, d) in self.sets.iter().enumerate() {
            if !self.enabled[j] {
                continue;
            }
            let got = read_all(&self.eng().device(&d.shadow).unwrap());
            assert!(
                got == self.sh[j],
                "step {step} ({what}): shadow {j} differs at {:?}",
                first_diff(&got, &self.sh[j])
            );
            let info = self.eng().set_info(&d.shadow).unwrap();
            if info.percent_synchronized == 100.0 {
                assert!(
                    self.sh[j] == self.m[d.master],
                    "step {step} ({what}): set {j} claims synchronized"
                );
            }
            // Only while no copy on this master runs: a copy to the master
            // marks this set's bits just before it changes the master.
            let quiet = self.sets.iter().enumerate().all(|(k, o)| {
                o.master != d.master
                    || !self.enabled[k]
                    || !self.eng().set_info(&o.shadow).unwrap().copy_active
            });
            if d.kind == SetKind::Independent && quiet && info.flags & flags::COPYING == 0 {
                // Unmarked chunks of an idle independent set are physically equal.
                let unsync = self.eng().unsynchronized_chunks(&d.shadow).unwrap();
                let ms = std::fs::read(&self.masters[d.master]).unwrap();
                let ss = std::fs::read(&d.shadow).unwrap();
                for c in 0..info.chunks as usize {
                    if unsync.binary_search(&(c as u64)).is_err() {
                        let end = ((c + 1) * CH).min(ms.len());
                        assert!(
                            ms[c * CH..end] == ss[c * CH..end],
                            "step {step} ({what}): set {j} chunk {c} unmarked but differs"
                        );
                    }
                }
            }
        }
    }
}

fn expect_refusal(r: Result<()>, step: usize, what: &str) -> bool {
    match r {
        Ok(()) => true,
        Err(Error::Busy { .. } | Error::WrongState { .. } | Error::InvalidParameter { .. }) => {
            false
        }
        Err(e) => panic!("step {step} ({what}): unexpected error {e}"),
    }
}

fn run(seed: u64, steps: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let env = Env::new();
    let m1 = 250 * CH + 5000;
    let m2 = 120 * CH;
    let masters = vec![
        env.vol_rand("m1", m1, seed),
        env.vol_rand("m2", m2, seed + 1),
    ];
    let mk = |n: &str, size: usize| env.vol(n, size, 0);
    let sets = vec![
        SetDef {
            master: 0,
            shadow: mk("sa", m1 + CH),
            bitmap: mk("ba", 64 << 10),
            kind: SetKind::Independent,
            overflow: None,
        },
        SetDef {
            master: 0,
            shadow: mk("sb", m1),
            bitmap: mk("bb", 64 << 10),
            kind: SetKind::Dependent,
            overflow: None,
        },
        SetDef {
            master: 1,
            shadow: mk("sc", 70 * CH),
            bitmap: mk("bc", 64 << 10),
            kind: SetKind::Dependent,
            overflow: Some(mk("oc", 60 * CH)),
        },
        SetDef {
            master: 1,
            shadow: mk("sd", m2),
            bitmap: mk("bd", 64 << 10),
            kind: SetKind::Independent,
            overflow: None,
        },
    ];
    let m = masters.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut w = World {
        env,
        masters,
        sets,
        eng: None,
        mdev: vec![],
        m,
        sh: vec![vec![]; 4],
        enabled: vec![false; 4],
    };
    w.reopen();
    w.eng()
        .init_overflow(w.sets[2].overflow.as_ref().unwrap())
        .unwrap();
    w.eng().create_group("gi", SetKind::Independent).unwrap();
    w.eng().create_group("gd", SetKind::Dependent).unwrap();
    for j in 0..4 {
        w.enable(j).unwrap();
    }
    w.check(0, "enable");
    for step in 1..=steps {
        let j = rng.gen_range(0..4);
        let mi = w.sets[j].master;
        let op = rng.gen_range(0..100);
        let what;
        if op < 30 {
            what = "write master";
            let i = rng.gen_range(0..2);
            let size = w.m[i].len();
            let len = rng.gen_range(1..3 * CH).min(size);
            let off = rng.gen_range(0..=size - len);
            let data = pattern(rng.gen(), len);
            w.mdev[i]
                .write_at(&data, off as u64, rng.gen_bool(0.1))
                .unwrap();
            w.m[i][off..off + len].copy_from_slice(&data);
        } else if op < 50 {
            what = "write shadow";
            if w.enabled[j] {
                let size = w.sh[j].len();
                let len = rng.gen_range(1..3 * CH).min(size);
                let off = rng.gen_range(0..=size - len);
                let data = pattern(rng.gen(), len);
                w.eng()
                    .device(&w.sets[j].shadow)
                    .unwrap()
                    .write_at(&data, off as u64, false)
                    .unwrap();
                w.sh[j][off..off + len].copy_from_slice(&data);
            }
        } else if op < 62 {
            what = "copy to shadow";
            if w.enabled[j] {
                let mode = if rng.gen() {
                    CopyMode::Full
                } else {
                    CopyMode::Update
                };
                if expect_refusal(
                    w.eng().copy(&w.sets[j].shadow, Direction::ToShadow, mode),
                    step,
                    what,
                ) {
                    w.sh[j] = w.m[mi].clone();
                }
            }
        } else if op < 70 {
            what = "copy to master";
            if w.enabled[j] {
                let mode = if rng.gen() {
                    CopyMode::Full
                } else {
                    CopyMode::Update
                };
                if expect_refusal(
                    w.eng().copy(&w.sets[j].shadow, Direction::ToMaster, mode),
                    step,
                    what,
                ) {
                    w.m[mi] = w.sh[j].clone();
                }
            }
        } else if op < 74 {
            what = "abort";
            if w.enabled[j] {
                w.eng().abort(&w.sets[j].shadow).unwrap();
            }
        } else if op < 80 {
            what = "wait";
            if w.enabled[j] {
                assert!(w
                    .eng()
                    .wait(&w.sets[j].shadow, Some(Duration::from_secs(60)))
                    .unwrap());
            }
        } else if op < 84 {
            what = "group copy";
            let (g, members): (&str, Vec<usize>) = if rng.gen() {
                ("gi", vec![0, 3])
            } else {
                ("gd", vec![1, 2])
            };
            let dir = if rng.gen_bool(0.7) {
                Direction::ToShadow
            } else {
                Direction::ToMaster
            };
            let mode = if rng.gen() {
                CopyMode::Full
            } else {
                CopyMode::Update
            };
            let info = w.eng().group_info(g).unwrap();
            let r = w.eng().group_copy(g, dir, mode);
            let ok = match r {
                Ok(()) => true,
                Err(
                    Error::Busy { .. } | Error::WrongState { .. } | Error::InvalidParameter { .. },
                ) => false,
                Err(e) => panic!("step {step}: group copy: {e}"),
            };
            if ok {
                let before_m = w.m.clone();
                for k in members {
                    if info
                        .members
                        .contains(&std::fs::canonicalize(&w.sets[k].shadow).unwrap())
                    {
                        match dir {
                            Direction::ToShadow => w.sh[k] = before_m[w.sets[k].master].clone(),
                            Direction::ToMaster => w.m[w.sets[k].master] = w.sh[k].clone(),
                        }
                    }
                }
            }
        } else if op < 88 {
            what = "group membership";
            if w.enabled[j] {
                let g = if w.sets[j].kind == SetKind::Independent {
                    "gi"
                } else {
                    "gd"
                };
                let r = if rng.gen() {
                    w.eng().add_to_group(&w.sets[j].shadow, g)
                } else {
                    w.eng().remove_from_group(&w.sets[j].shadow)
                };
                expect_refusal(r, step, what);
            }
        } else if op < 91 {
            what = "restart";
            w.reopen();
        } else if op < 94 {
            what = "suspend/resume";
            if w.enabled[j] {
                w.eng().suspend(&w.sets[j].shadow).unwrap();
                w.check(step, "suspended");
                if rng.gen_bool(0.5) {
                    w.reopen();
                }
                w.eng().resume(&w.sets[j].shadow).unwrap();
            }
        } else if op < 97 {
            what = "copy params";
            if w.enabled[j] {
                w.eng()
                    .set_copy_params(&w.sets[j].shadow, rng.gen_range(2..6), 100)
                    .unwrap();
            }
        } else {
            what = "disable/enable";
            if w.enabled[j] {
                if expect_refusal(w.eng().disable_set(&w.sets[j].shadow), step, what) {
                    w.enabled[j] = false;
                }
            } else {
                let r = w.enable(j);
                expect_refusal(r, step, what);
            }
        }
        w.check(step, what);
    }
    for j in 0..4 {
        if w.enabled[j] {
            w.eng().resume(&w.sets[j].shadow).unwrap();
            assert!(w
                .eng()
                .wait(&w.sets[j].shadow, Some(Duration::from_secs(60)))
                .unwrap());
        }
    }
    w.check(steps + 1, "final");
    w.reopen();
    w.check(steps + 2, "final restart");
}

fn long() -> bool {
    std::env::var_os("NATIVE_LONG").is_some()
}

#[test]
fn model_seed_1() {
    run(1, if long() { 3000 } else { 150 });
}

#[test]
fn model_seed_2() {
    run(2, if long() { 3000 } else { 150 });
}

#[test]
fn model_more_seeds_long() {
    let n = if long() { 20 } else { 1 };
    for seed in 100..100 + n {
        run(seed, if long() { 800 } else { 60 });
    }
}
