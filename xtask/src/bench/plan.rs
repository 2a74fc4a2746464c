//! The arguments of `cargo xtask bench`: which sections run (`--only`), which clients, how
//! many operations and repetitions (`--quick`, `--repeat`, `--large-repeat`,
//! `--cli-repeat`), callgrind or not, and the S3 server's port.

use super::{CLIENTS, LOCAL_CLIENTS, MIB};

pub(crate) const USAGE: &str = "usage: cargo xtask bench [--quick] [--no-callgrind] [--repeat R] [--port P] [--clients a,b,...] \
                     [--only s3-small,s3-large,azure-small,azure-large,gcs-small,gcs-large,local,memory,cli] [--large-repeat R] \
                     [--cli-repeat R]";

/// The sections `--only` selects.
pub(crate) const SECTIONS: &[&str] =
    &["s3-small", "s3-large", "azure-small", "azure-large", "gcs-small", "gcs-large", "local", "memory", "cli"];

/// Which parts of the benchmark run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sections {
    pub(crate) s3_small: bool,
    pub(crate) s3_large: bool,
    pub(crate) azure_small: bool,
    pub(crate) azure_large: bool,
    pub(crate) gcs_small: bool,
    pub(crate) gcs_large: bool,
    pub(crate) local: bool,
    pub(crate) memory: bool,
    /// The `storage` CLI's `cp -r` beside `rclone copy`, against the S3 server.
    pub(crate) cli: bool,
}

impl Sections {
    pub(crate) fn all() -> Sections {
        Sections {
            s3_small: true,
            s3_large: true,
            azure_small: true,
            azure_large: true,
            gcs_small: true,
            gcs_large: true,
            local: true,
            memory: true,
            cli: true,
        }
    }

    pub(crate) fn parse(list: &str) -> Result<Sections, String> {
        let mut s = Sections {
            s3_small: false,
            s3_large: false,
            azure_small: false,
            azure_large: false,
            gcs_small: false,
            gcs_large: false,
            local: false,
            memory: false,
            cli: false,
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "s3-small" => s.s3_small = true,
                "s3-large" => s.s3_large = true,
                "azure-small" => s.azure_small = true,
                "azure-large" => s.azure_large = true,
                "gcs-small" => s.gcs_small = true,
                "gcs-large" => s.gcs_large = true,
                "local" => s.local = true,
                "memory" => s.memory = true,
                "cli" => s.cli = true,
                other => return Err(format!("unknown section {other:?}; known: {}", SECTIONS.join(", "))),
            }
        }
        if !(s.needs_server() || s.needs_azurite() || s.needs_fake_gcs() || s.local) {
            return Err(format!("--only needs at least one of {}", SECTIONS.join(", ")));
        }
        Ok(s)
    }

    pub(crate) fn names(&self) -> Vec<&'static str> {
        let on = [
            self.s3_small,
            self.s3_large,
            self.azure_small,
            self.azure_large,
            self.gcs_small,
            self.gcs_large,
            self.local,
            self.memory,
            self.cli,
        ];
        SECTIONS.iter().zip(on).filter(|(_, on)| *on).map(|(n, _)| *n).collect()
    }

    pub(crate) fn needs_server(&self) -> bool {
        self.s3_small || self.s3_large || self.memory || self.cli
    }

    pub(crate) fn needs_azurite(&self) -> bool {
        self.azure_small || self.azure_large
    }

    pub(crate) fn needs_fake_gcs(&self) -> bool {
        self.gcs_small || self.gcs_large
    }
}

/// What one run of the benchmark does.
pub(crate) struct Plan {
    pub(crate) callgrind: bool,
    pub(crate) repeat: usize,
    pub(crate) port: Option<u16>,
    /// The clients asked for (S3 and local names; each section takes the ones it knows;
    /// `cli` always runs both of its own, ours and rclone).
    pub(crate) clients: Vec<String>,
    pub(crate) sections: Sections,
    /// The arguments, for the report.
    pub(crate) args: Vec<String>,
    /// Operations per timed sequential / concurrent PUT or GET phase.
    pub(crate) n_seq: usize,
    pub(crate) n_par: usize,
    /// Complete listings per timed LIST phase.
    pub(crate) listings: usize,
    /// The same three against Azurite, which answers 300-2,000 small requests per second
    /// (s3s-fs: 2,000-20,000), so that its section takes minutes, not a quarter of an hour;
    /// and against fake-gcs-server, whose memory backend stores 100-600 objects a second
    /// (fewer the more it holds).
    pub(crate) az_n_seq: usize,
    pub(crate) az_n_par: usize,
    pub(crate) az_listings: usize,
    /// Callgrind: operations in the small and the large run (listings for LIST).
    pub(crate) cg_ops: (usize, usize),
    pub(crate) cg_listings: (usize, usize),
    /// Size of the large transfers and of the memory-bound transfers.
    pub(crate) large_bytes: u64,
    pub(crate) memory_bytes: u64,
    /// Repetitions of each large transfer (medians reported).
    pub(crate) large_repeat: usize,
    /// Section `cli`: the small tree (files, bytes each, directories), the large tree
    /// (files, bytes each), and the repetitions of each copy (medians reported).
    pub(crate) cli_small: (usize, u64, usize),
    pub(crate) cli_large: (usize, u64),
    pub(crate) cli_repeat: usize,
}

impl Plan {
    pub(crate) fn parse(args: &[String]) -> Result<Plan, String> {
        let mut quick = false;
        let mut callgrind = true;
        let mut repeat = None;
        let mut large_repeat = 1;
        let mut cli_repeat = 1;
        let mut port = None;
        let mut sections = Sections::all();
        let mut clients: Vec<String> = Vec::new();
        for c in CLIENTS.iter().chain(LOCAL_CLIENTS) {
            if !clients.iter().any(|x| x == c) {
                clients.push((*c).to_owned());
            }
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |flag: &str| it.next().cloned().ok_or_else(|| format!("{flag} needs a value; {USAGE}"));
            match a.as_str() {
                "--quick" => quick = true,
                "--no-callgrind" => callgrind = false,
                "--repeat" => repeat = Some(value(a)?.parse().map_err(|_| "--repeat takes a number".to_owned())?),
                "--port" => port = Some(value(a)?.parse().map_err(|_| "--port takes a port number".to_owned())?),
                "--clients" => clients = value(a)?.split(',').map(|s| s.trim().to_owned()).collect(),
                "--only" => sections = Sections::parse(&value(a)?)?,
                "--large-repeat" => {
                    large_repeat = value(a)?.parse().map_err(|_| "--large-repeat takes a number".to_owned())?;
                }
                "--cli-repeat" => {
                    cli_repeat = value(a)?.parse().map_err(|_| "--cli-repeat takes a number".to_owned())?;
                }
                other => return Err(format!("unknown argument {other:?}; {USAGE}")),
            }
        }
        if let Some(bad) =
            clients.iter().find(|c| !CLIENTS.contains(&c.as_str()) && !LOCAL_CLIENTS.contains(&c.as_str()))
        {
            return Err(format!("unknown client {bad:?}; known: {}, tokio", CLIENTS.join(", ")));
        }
        let mut plan = Plan {
            callgrind,
            repeat: repeat.unwrap_or(3),
            port,
            clients,
            sections,
            args: args.to_vec(),
            n_seq: 5_000,
            n_par: 10_000,
            listings: 5,
            az_n_seq: 1_000,
            az_n_par: 2_000,
            az_listings: 3,
            cg_ops: (200, 2_200),
            cg_listings: (1, 3),
            large_bytes: 512 * MIB,
            memory_bytes: 2048 * MIB,
            large_repeat: large_repeat.max(1),
            cli_small: (2_000, 4 << 10, 20),
            cli_large: (2, 256 * MIB),
            cli_repeat: cli_repeat.max(1),
        };
        if quick {
            plan.repeat = repeat.unwrap_or(1);
            plan.n_seq = 1_000;
            plan.n_par = 2_000;
            plan.listings = 1;
            plan.az_n_seq = 300;
            plan.az_n_par = 600;
            plan.az_listings = 1;
            plan.cg_ops = (100, 600);
            plan.cg_listings = (1, 2);
            plan.large_bytes = 128 * MIB;
            plan.memory_bytes = 512 * MIB;
            plan.cli_large = (2, 64 * MIB);
        }
        Ok(plan)
    }

    pub(crate) fn n_for(&self, op: &str, concurrency: usize) -> usize {
        match (op, concurrency) {
            ("list", _) => self.listings,
            (_, 1) => self.n_seq,
            _ => self.n_par,
        }
    }

    /// [`Plan::n_for`] against Azurite and fake-gcs-server.
    pub(crate) fn az_n_for(&self, op: &str, concurrency: usize) -> usize {
        match (op, concurrency) {
            ("list", _) => self.az_listings,
            (_, 1) => self.az_n_seq,
            _ => self.az_n_par,
        }
    }

    /// The S3 (and Azure and GCS: the same four) clients asked for, in table order.
    pub(crate) fn s3_clients(&self) -> Vec<String> {
        CLIENTS.iter().filter(|c| self.clients.iter().any(|x| x == *c)).map(|c| (*c).to_owned()).collect()
    }

    /// The local filesystem clients asked for, in table order.
    pub(crate) fn local_clients(&self) -> Vec<String> {
        LOCAL_CLIENTS.iter().filter(|c| self.clients.iter().any(|x| x == *c)).map(|c| (*c).to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections() {
        let s = Sections::parse("local, memory").unwrap();
        assert!(!s.s3_small && !s.s3_large && s.local && s.memory && s.needs_server() && !s.needs_azurite());
        assert_eq!(s.names(), vec!["local", "memory"]);
        assert!(!Sections::parse("local").unwrap().needs_server());
        let s = Sections::parse("azure-small,azure-large").unwrap();
        assert!(s.azure_small && s.azure_large && !s.s3_small && s.needs_azurite() && !s.needs_server());
        assert_eq!(s.names(), vec!["azure-small", "azure-large"]);
        let s = Sections::parse("gcs-large,gcs-small").unwrap();
        assert!(s.gcs_small && s.gcs_large && s.needs_fake_gcs() && !s.needs_azurite() && !s.needs_server());
        assert_eq!(s.names(), vec!["gcs-small", "gcs-large"]);
        assert!(!Sections::parse("s3-small").unwrap().needs_fake_gcs());
        let s = Sections::parse("cli").unwrap();
        assert!(s.cli && s.needs_server() && !s.memory && !s.s3_small && !s.needs_azurite());
        assert_eq!(s.names(), vec!["cli"]);
        assert_eq!(Sections::all().names(), SECTIONS);
        assert!(Sections::parse("s3-huge").is_err());
        assert!(Sections::parse("").is_err());
    }

    #[test]
    fn plans() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        let p = Plan::parse(&args(&["--quick", "--only", "local", "--clients", "ours,tokio"])).unwrap();
        assert_eq!((p.repeat, p.n_seq, p.n_par, p.large_bytes), (1, 1_000, 2_000, 128 * MIB));
        assert_eq!(p.local_clients(), vec!["tokio", "ours"]);
        assert_eq!(p.s3_clients(), vec!["ours"]);
        assert_eq!((p.n_for("list", 1), p.n_for("put", 1), p.n_for("get", 32)), (1, 1_000, 2_000));
        assert_eq!((p.az_n_for("list", 1), p.az_n_for("put", 1), p.az_n_for("get", 32)), (1, 300, 600));
        assert!(Plan::parse(&args(&["--clients", "s3cmd"])).is_err());
        assert!(Plan::parse(&args(&["--repeat"])).is_err());
        assert_eq!((p.cli_small, p.cli_large, p.cli_repeat), ((2_000, 4096, 20), (2, 64 * MIB), 1));
        let p = Plan::parse(&args(&["--only", "cli", "--cli-repeat", "3"])).unwrap();
        assert_eq!((p.cli_large, p.cli_repeat, p.sections.names()), ((2, 256 * MIB), 3, vec!["cli"]));
        assert!(Plan::parse(&args(&["--cli-repeat", "x"])).is_err());
        assert!(Plan::parse(&args(&["--frobnicate"])).is_err());
    }
}
