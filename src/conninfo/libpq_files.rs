//! libpq's two files: the password file (`~/.pgpass`, `PGPASSFILE`, option `passfile`) and the
//! connection service file (`~/.pg_service.conf`, `PGSERVICEFILE`, then
//! `PGSYSCONFDIR/pg_service.conf`), read as libpq reads them.

use std::path::{Path, PathBuf};

/// The settings of service `name`: from the user's file if it defines it, the system's
/// otherwise; an error names the files looked at when neither does.
pub(crate) fn service(name: &str) -> Result<Vec<(String, String)>, String> {
    let var = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    let home = var("HOME");
    let user_file = var("PGSERVICEFILE").or_else(|| home.map(|h| h.join(".pg_service.conf")));
    let sys_dir = var("PGSYSCONFDIR").unwrap_or_else(|| PathBuf::from("/etc/postgresql-common"));
    let files: Vec<PathBuf> = user_file
        .into_iter()
        .chain([sys_dir.join("pg_service.conf")])
        .collect();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        if let Some(found) = service_in(&text, name, file)? {
            return Ok(found);
        }
    }
    let looked: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Err(format!(
        "service `{name}`: no definition in {}",
        looked.join(" or ")
    ))
}

/// The `key=value` lines of section `[name]`, if the file has it.
fn service_in(
    text: &str,
    name: &str,
    file: &Path,
) -> Result<Option<Vec<(String, String)>>, String> {
    let mut inside = false;
    let mut found = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if inside {
                break;
            }
            inside = section == name;
            if inside {
                found = Some(Vec::new());
            }
            continue;
        }
        if !inside {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "{}, line {}: syntax error in service file (expected key=value)",
                file.display(),
                n + 1
            ));
        };
        if let Some(pairs) = found.as_mut() {
            pairs.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    Ok(found)
}

/// The password file to read: `passfile`, else `PGPASSFILE`, else `~/.pgpass`.
pub(crate) fn passfile(option: Option<&str>) -> Option<PathBuf> {
    if let Some(p) = option.filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("PGPASSFILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass"))
}

/// The password for this host, port, database and user in the password file, if any. As
/// libpq, a file that others may read (mode wider than 0600) is ignored with a warning.
pub(crate) fn password(
    file: &Path,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        crate::console::errln!(
            "warning: password file {} has group or world access; permissions should be u=rw \
             (0600) or less: it is ignored",
            file.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let port = port.to_string();
    let wanted = [host, port.as_str(), dbname, user];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = pgpass_fields(line);
            if fields.len() < 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(wanted)
                .all(|(f, w)| f == "*" || f == w);
            matches.then(|| fields[4..].join(":"))
        })
}

/// The `:`-separated fields of a line, with `\:` and `\\` unescaped.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("one field").push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn pgpass_matches_wildcards_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:app:no\ndb\\:1:*:shop:app:pa\\:ss\n*:*:*:app:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            password(&file, "db:1", 6432, "shop", "app").as_deref(),
            Some("pa:ss")
        );
        assert_eq!(
            password(&file, "h", 1, "x", "app").as_deref(),
            Some("fallback")
        );
        assert_eq!(password(&file, "h", 1, "x", "bob"), None);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            password(&file, "h", 1, "x", "app"),
            None,
            "too open: ignored"
        );
    }

    #[test]
    fn service_sections_are_read_and_bad_lines_named() {
        let text = "# c\n[a]\nhost=h1\n[shop]\nhost = db.example\nport=6432\n[z]\nport=1\n";
        let found = service_in(text, "shop", Path::new("f")).unwrap().unwrap();
        assert_eq!(
            found,
            [
                ("host".to_string(), "db.example".to_string()),
                ("port".to_string(), "6432".to_string())
            ]
        );
        assert_eq!(service_in(text, "nope", Path::new("f")).unwrap(), None);
        let e = service_in("[s]\nnonsense\n", "s", Path::new("f")).unwrap_err();
        assert!(e.contains("f, line 2"), "{e}");
    }
}
