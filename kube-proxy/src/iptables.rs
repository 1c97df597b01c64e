//! The thin I/O half: runs `iptables`, `iptables-save`, `iptables-restore` and `conntrack`.
//!
//! kube-proxy runs inside the node's network namespace, so these commands act on it. For the
//! benchmark, [`Iptables::in_netns`] runs every command under `ip netns exec NS` instead.

use std::collections::BTreeSet;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::error::Error;
use crate::render::{self, is_our_chain};

/// Runs the iptables tools, in this network namespace or a named one.
#[derive(Debug, Clone, Default)]
pub struct Iptables {
    netns: Option<String>,
}

/// What a command printed.
#[derive(Debug)]
struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Iptables {
    /// Acts on the network namespace this process runs in.
    pub fn new() -> Self {
        Iptables { netns: None }
    }

    /// Acts on the named network namespace (`ip netns exec NAME ...`).
    pub fn in_netns(name: impl Into<String>) -> Self {
        Iptables {
            netns: Some(name.into()),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut command = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => Command::new(program),
        };
        command.kill_on_drop(true);
        command
    }

    async fn run(
        &self,
        program: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<Output, Error> {
        self.run_with(program, args, stdin, Stdio::piped()).await
    }

    async fn run_with(
        &self,
        program: &str,
        args: &[&str],
        stdin: Option<&str>,
        stdout: Stdio,
    ) -> Result<Output, Error> {
        let line = format!("{program} {}", args.join(" "));
        let mut command = self.command(program);
        command
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(stdout)
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            command: line.clone(),
            source,
        })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A command that fails early stops reading: its stderr below says why.
            match pipe.write_all(input.as_bytes()).await {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(Error::Spawn {
                        command: line,
                        source: e,
                    })
                }
                _ => {}
            }
            drop(pipe);
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|source| Error::Spawn {
                command: line,
                source,
            })?;
        Ok(Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `iptables-restore -w --noflush`: one transaction per table, ours only. What it prints
    /// (the listing of a `-S` in the input, see [`render::LIST_ALL_CHAINS_ABOVE`]) is dropped.
    pub async fn restore(&self, input: &str) -> Result<(), Error> {
        let out = self
            .run_with(
                "iptables-restore",
                &["-w", "5", "--noflush"],
                Some(input),
                Stdio::null(),
            )
            .await?;
        if out.ok {
            Ok(())
        } else {
            Err(Error::Restore {
                stderr: out.stderr.trim().to_string(),
            })
        }
    }

    /// `iptables-save -t TABLE`.
    pub async fn save(&self, table: &str) -> Result<String, Error> {
        let out = self.run("iptables-save", &["-t", table], None).await?;
        if out.ok {
            Ok(out.stdout)
        } else {
            Err(Error::Command {
                command: format!("iptables-save -t {table}"),
                stderr: out.stderr.trim().to_string(),
            })
        }
    }

    /// The chains of ours that exist in `table` now.
    pub async fn our_chains(&self, table: &str) -> Result<BTreeSet<String>, Error> {
        Ok(chains_in_save(&self.save(table).await?))
    }

    /// Creates our fixed chains if needed and makes sure each jump from a built-in chain is
    /// there once (checked with `-C`, inserted first with `-I` when missing).
    pub async fn ensure_jumps(&self) -> Result<(), Error> {
        for (table, chain, args) in render::jump_rules() {
            let target = args.last().copied().unwrap_or_default();
            // "Chain already exists" is fine.
            self.run("iptables", &["-w", "5", "-t", table, "-N", target], None)
                .await?;
            let mut check = vec!["-w", "5", "-t", table, "-C", chain];
            check.extend(&args);
            if self.run("iptables", &check, None).await?.ok {
                continue;
            }
            let mut insert = vec!["-w", "5", "-t", table, "-I", chain, "1"];
            insert.extend(&args);
            let out = self.run("iptables", &insert, None).await?;
            if !out.ok {
                return Err(Error::Command {
                    command: format!("iptables -t {table} -I {chain} {}", args.join(" ")),
                    stderr: out.stderr.trim().to_string(),
                });
            }
        }
        Ok(())
    }

    /// `conntrack -D ...`; "0 flow entries" (exit 1) is not an error.
    pub async fn conntrack_delete(&self, delete: &render::ConntrackDelete) -> Result<(), Error> {
        let args = delete.args();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run("conntrack", &refs, None).await?;
        if out.ok || out.stderr.contains("0 flow entries") {
            Ok(())
        } else {
            Err(Error::Command {
                command: format!("conntrack {}", args.join(" ")),
                stderr: out.stderr.trim().to_string(),
            })
        }
    }

    /// `--cleanup`: removes the jumps into our chains and then our chains, in both tables.
    /// Rules and chains of anybody else stay as they are.
    pub async fn cleanup(&self) -> Result<(), Error> {
        for (table, chain, args) in render::jump_rules() {
            // Delete every copy of the jump (bounded).
            for _ in 0..16 {
                let mut delete = vec!["-w", "5", "-t", table, "-D", chain];
                delete.extend(&args);
                if !self.run("iptables", &delete, None).await?.ok {
                    break;
                }
            }
        }
        let mut input = String::new();
        for table in ["filter", "nat"] {
            let chains = self.our_chains(table).await?;
            input.push_str(&cleanup_input(table, &chains));
        }
        self.restore(&input).await
    }
}

/// Our chains declared in an `iptables-save` dump (`:NAME POLICY [p:b]` lines).
pub fn chains_in_save(save: &str) -> BTreeSet<String> {
    save.lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| is_our_chain(c))
        .map(str::to_string)
        .collect()
}

/// Restore text flushing and deleting `chains` in `table`.
pub fn cleanup_input(table: &str, chains: &BTreeSet<String>) -> String {
    let mut out = format!("*{table}\n");
    for chain in chains {
        out.push_str(&format!(":{chain} - [0:0]\n"));
    }
    for chain in chains {
        out.push_str(&format!("-X {chain}\n"));
    }
    out.push_str("COMMIT\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_our_chains_in_a_save() {
        let save = "# Generated by iptables-save\n*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-ABC - [0:0]\n:KUBE-MARK-DROP - [0:0]\n:FOREIGN - [0:0]\n-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n";
        let chains = chains_in_save(save);
        assert_eq!(
            chains.into_iter().collect::<Vec<_>>(),
            ["KUBE-SERVICES", "KUBE-SVC-ABC"]
        );
        let input = cleanup_input("nat", &["KUBE-SVC-ABC".to_string()].into_iter().collect());
        assert_eq!(
            input,
            "*nat\n:KUBE-SVC-ABC - [0:0]\n-X KUBE-SVC-ABC\nCOMMIT\n"
        );
    }
}
