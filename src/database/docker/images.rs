//! The local test images of `tests/docker/build-image.sh` (`stress-test-postgres:MAJOR`): no
//! registry has them, so a missing one cannot be pulled. A run is refused before anything
//! starts when a variant names one this machine lacks, with the command that builds it, rather
//! than failing after the other variants ran with a registry error.

use std::time::Duration;

use testcontainers::bollard::Docker;
use testcontainers::bollard::errors::Error;

/// The name of the images `tests/docker/build-image.sh` builds, before the major version.
const LOCAL: &str = "stress-test-postgres:";

/// How to get `image` on this machine, when it is a local test image: the build command, or
/// which majors the script knows.
pub(crate) fn build_hint(image: &str) -> Option<String> {
    let major = image.strip_prefix(LOCAL)?;
    let suite = match major {
        "13" => "bullseye",
        "15" => "bookworm",
        "17" => "trixie",
        _ => {
            return Some(format!(
                "tests/docker/build-image.sh builds stress-test-postgres:13, :15 and :17 only \
                 (Debian's bullseye, bookworm and trixie), not {image}"
            ));
        }
    };
    Some(format!(
        "build it with tests/docker/build-image.sh {major} (Debian {suite}'s postgresql-{major}, \
         a few minutes the first time)"
    ))
}

/// The local test images among `images` that the engine does not have. Empty when no engine
/// answers (a container's start then says why) or when none of them is a local test image.
pub fn missing(images: &[&str]) -> Vec<String> {
    let local: Vec<&str> = images
        .iter()
        .copied()
        .filter(|i| i.starts_with(LOCAL))
        .collect();
    if local.is_empty() {
        return Vec::new();
    }
    // Its own thread and runtime, as `engine_answers`: the caller may be on a runtime.
    let ask = || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let docker = Docker::connect_with_local_defaults().ok()?;
            let mut absent = Vec::new();
            for image in &local {
                let found =
                    tokio::time::timeout(Duration::from_secs(5), docker.inspect_image(image));
                match found.await.ok()? {
                    Ok(_) => {}
                    Err(Error::DockerResponseServerError {
                        status_code: 404, ..
                    }) => absent.push(image.to_string()),
                    // Cannot tell: let the container's start say what is wrong.
                    Err(_) => return None,
                }
            }
            Some(absent)
        })
    };
    std::thread::scope(|s| s.spawn(ask).join())
        .ok()
        .flatten()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::build_hint;

    #[test]
    fn the_hint_names_the_majors_build_command_and_only_for_local_images() {
        let h = build_hint("stress-test-postgres:17").unwrap();
        assert!(
            h.contains("build-image.sh 17") && h.contains("trixie"),
            "{h}"
        );
        let h = build_hint("stress-test-postgres:13").unwrap();
        assert!(
            h.contains("build-image.sh 13") && h.contains("bullseye"),
            "{h}"
        );
        let h = build_hint("stress-test-postgres:16").unwrap();
        assert!(h.contains("13, :15 and :17 only"), "{h}");
        assert_eq!(build_hint("postgres:17"), None);
    }
}
