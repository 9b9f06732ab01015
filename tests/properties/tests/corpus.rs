//! Every property over its seeds, the inputs fuzzing once found wrong
//! (`fuzz/regressions/<property>/`, kept so they stay fixed), and a few
//! thousand inputs made from the seeds by the mutations a fuzzer starts
//! with. Deterministic: the same inputs every run.

use std::path::PathBuf;

use std::collections::HashMap;

use inspraak_properties::{Outcome, PROPERTIES, seeds};

const GENERATED: usize = 10_000;

/// A small deterministic generator (xorshift64*).
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }

    /// `seed` changed as a fuzzer would: bytes flipped, set to edge values,
    /// inserted, removed, the input cut short or grown with random bytes.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut data = seed.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(data.len() + 1);
            match self.below(7) {
                0 if at < data.len() => data[at] ^= 1 << self.below(8),
                1 if at < data.len() => data[at] = [0, 0x7f, 0x80, 0xff][self.below(4)],
                2 => data.insert(at, self.next() as u8),
                3 if at < data.len() => {
                    data.remove(at);
                }
                4 => data.truncate(at),
                5 => data.extend((0..self.below(64)).map(|_| self.next() as u8)),
                _ => {
                    // Repeat a stretch: long strings, many repeated fields.
                    let end = (at + 1 + self.below(16)).min(data.len());
                    let stretch = data[at.min(end)..end].to_vec();
                    for _ in 0..self.below(200) {
                        data.extend_from_slice(&stretch);
                    }
                }
            }
        }
        data
    }
}

fn files_in(dir: PathBuf) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| std::fs::read(e.path()).expect("read a regression"))
        .collect()
}

fn check(name: &str) {
    let property = PROPERTIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .expect("a property");
    let seeds = seeds::of(name);
    assert!(!seeds.is_empty(), "{name} has no seeds");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let regressions = files_in(root.join("regressions").join(name));
    for seed in &seeds {
        assert_eq!(
            property(seed),
            Outcome::Accepted,
            "{name}: a seed was refused"
        );
    }
    for input in &regressions {
        property(input);
    }
    let mut outcomes: HashMap<Outcome, usize> = HashMap::new();
    let mut generator = Generator(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    for i in 0..GENERATED {
        let input = if i % 10 == 9 {
            (0..generator.below(256))
                .map(|_| generator.next() as u8)
                .collect()
        } else {
            let seed = &seeds[generator.below(seeds.len())];
            generator.mutate(seed)
        };
        *outcomes.entry(property(&input)).or_default() += 1;
    }
    let count = |outcome| outcomes.get(&outcome).copied().unwrap_or(0);
    println!(
        "{name}: {} seeds, {} regressions, {GENERATED} generated inputs kept every promise \
         ({} accepted, {} refused, {} undecodable)",
        seeds.len(),
        regressions.len(),
        count(Outcome::Accepted),
        count(Outcome::Refused),
        count(Outcome::Undecodable),
    );
    // Generated inputs that never reach the mapping, or never pass it,
    // would check nothing.
    assert!(
        count(Outcome::Accepted) > 0,
        "{name}: no generated input was accepted"
    );
    assert!(
        count(Outcome::Refused) > 0,
        "{name}: no generated input was refused"
    );
}

macro_rules! properties {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name));
            }
        )*

        #[test]
        fn every_property_is_checked_here() {
            let here = [$(stringify!($name)),*];
            let all: Vec<&str> = PROPERTIES.iter().map(|(n, _)| *n).collect();
            assert_eq!(here.as_slice(), all.as_slice());
        }
    };
}

properties!(
    new_input,
    platform_settings,
    participation_method,
    registration_policy,
    registration,
    grpc_timeout,
    access_token,
    event_envelope,
);
