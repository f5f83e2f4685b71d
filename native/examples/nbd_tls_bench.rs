//! NBD over TLS benchmark: our server in TLS require mode against the
//! reference servers with TLS, on the same files, with the same clients and
//! the same certificates (made here with rcgen: a CA, a server certificate
//! for 127.0.0.1 and a client certificate, in the certificate-directory
//! layout of GnuTLS users: `ca-cert.pem`, `server-cert.pem`, ...).
//!
//! ```text
//! cargo run --release -p native --example nbd_tls_bench
//! ```
//!
//! * Sequential read of the whole file with `nbdcopy nbds://...
//!   null:` against `qemu-nbd --tls-creds` (an `x509` credentials object on
//!   the same directory), with nbdcopy's default connections and over one.
//! * Random 4 KiB writes at queue depth 16 with `fio --ioengine=nbd` over
//!   `nbds://` against `nbdkit --tls=require file`.
//!
//! fio finds the certificates in libnbd's default directory
//! (`$HOME/.pki/libnbd`, with `HOME` pointed at the benchmark's directory):
//! its nbd engine refuses `tls-certificates=` in a URI.
//!
//! Neither side asks for client certificates (qemu-nbd `verify-peer=off`,
//! nbdkit without `--tls-verify-peer`, ours without a client CA), so all
//! three do the same TLS work. Each measurement alternates ours and the
//! reference `NBD_BENCH_ROUNDS` times (default 3) and reports medians.
//!
//! Environment: as `nbd_bench` (`NBD_BENCH_READ_SIZE`, default 1G;
//! `NBD_BENCH_WRITE_SIZE`, default 256M; `NBD_BENCH_SECONDS`;
//! `NBD_BENCH_ROUNDS`; `NBD_BENCH_DIR`).

use native::nbd::{AllowList, NbdServer, NbdTls, TlsFiles, TlsMode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[path = "bench_util/mod.rs"]
mod bench_util;
use bench_util::*;

/// Writes a CA, a server certificate for 127.0.0.1 and a client certificate
/// into `dir` under the names GnuTLS-based tools look for.
fn certificates(dir: &Path) -> Result<(), BoxError> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "bench ca");
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    std::fs::write(dir.join("ca-cert.pem"), ca_cert.pem())?;
    for (who, eku) in [
        ("server", ExtendedKeyUsagePurpose::ServerAuth),
        ("client", ExtendedKeyUsagePurpose::ClientAuth),
    ] {
        let mut p = CertificateParams::new(vec!["localhost".to_string()])?;
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse()?));
        p.distinguished_name.push(DnType::CommonName, who);
        p.extended_key_usages = vec![eku];
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &ca_cert, &ca_key)?;
        std::fs::write(dir.join(format!("{who}-cert.pem")), cert.pem())?;
        std::fs::write(dir.join(format!("{who}-key.pem")), key.serialize_pem())?;
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let BenchEnv {
        read_size,
        write_size,
        seconds,
        rounds,
        dir,
    } = BenchEnv::from_env()?;
    for tool in ["qemu-nbd", "nbdcopy", "nbdkit", "fio"] {
        if !tool_exists(tool) {
            return Err(format!("{tool} is needed (scripts/bench.sh installs it)").into());
        }
    }
    println!(
        "nbd_tls_bench: read file {} MiB, write file {} MiB, fio {seconds} s, {rounds} rounds, in {}",
        read_size >> 20,
        write_size >> 20,
        dir.path().display()
    );
    // libnbd's default certificate directory, $HOME/.pki/libnbd: fio's nbd
    // engine may not name local files in its URI, so it finds them there.
    let home = dir.path().join("home");
    let certs = home.join(".pki").join("libnbd");
    std::fs::create_dir_all(&certs)?;
    std::env::set_var("HOME", &home);
    certificates(&certs)?;
    let certs_s = path_str(&certs).to_owned();
    let (wfile, rfile, exports, wname, rname) = file_exports(dir.path(), read_size, write_size)?;

    // Our server, TLS required, in this process on its own runtime.
    let tls = NbdTls::from_files(
        TlsMode::Require,
        &TlsFiles {
            cert: certs.join("server-cert.pem"),
            key: certs.join("server-key.pem"),
            client_ca: None,
        },
        AllowList::default(),
    )?;
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt
        .block_on(NbdServer::bind("127.0.0.1:0", Arc::new(exports)))?
        .with_tls(tls);
    let port = server.local_addr()?.port();
    rt.spawn(server.run());
    let nbds = |port: u16, name: &str| {
        format!("nbds://127.0.0.1:{port}/{name}?tls-certificates={certs_s}")
    };

    let mut rows = Vec::new();

    // ---- sequential read against qemu-nbd --tls-creds ----
    let creds = format!("tls-creds-x509,id=tls0,dir={certs_s},endpoint=server,verify-peer=off");
    let (mut qemu, qport) = serve_qemu_nbd(
        &rfile,
        "r",
        &["-r", "--object", &creds, "--tls-creds", "tls0"],
    )?;
    let our_r = nbds(port, &rname);
    let q_uri = nbds(qport, "r");
    nbdcopy_mib_s(&our_r, read_size, &[])?; // warm the page cache
    rows.extend(read_rows("TLS", &our_r, &q_uri, read_size, rounds, 1.0)?);
    stop(&mut qemu);

    // ---- random 4 KiB writes QD16 against nbdkit --tls=require ----
    let kport = free_port()?;
    let mut kit = spawn(
        "nbdkit",
        &[
            "-f",
            "--tls=require",
            &format!("--tls-certificates={certs_s}"),
            "-i",
            "127.0.0.1",
            "-p",
            &kport.to_string(),
            "file",
            path_str(&wfile),
        ],
    )?;
    wait_listening(&format!("nbd://127.0.0.1:{kport}/"))?;
    let job = FioJob::Timed {
        size: write_size,
        seconds,
    };
    let our_w = format!("nbds://127.0.0.1:{port}/{wname}");
    let kit_w = format!("nbds://127.0.0.1:{kport}/");
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(fio_iops(&our_w, &job)?);
        b.push(fio_iops(&kit_w, &job)?);
    }
    stop(&mut kit);
    rows.push(Row::new(
        "TLS random 4K write QD16 (fio nbd)".to_string(),
        "IOPS",
        a,
        "nbdkit --tls=require",
        b,
        1.0,
    ));

    print_rows(&rows);
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}
