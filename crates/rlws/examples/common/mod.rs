//! Command-line bits the HTTP client examples share.

/// TLS settings from `--ca FILE` and `-k` among `args`; an error message
/// when `--ca` has no readable file.
pub fn tls_from_args(args: &[String]) -> Result<rlws::TlsClientOptions, String> {
    let mut tls = rlws::TlsClientOptions {
        insecure: args.iter().any(|a| a == "-k"),
        ..Default::default()
    };
    if let Some(i) = args.iter().position(|a| a == "--ca") {
        match args.get(i + 1).map(std::fs::read) {
            Some(Ok(pem)) => tls.ca_pem = Some(pem),
            _ => return Err("--ca needs a readable PEM file".into()),
        }
    }
    Ok(tls)
}
