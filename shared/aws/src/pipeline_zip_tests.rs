//! The input artifact's zip reader: what CodeBuild and other tools write is read, and a
//! damaged or oversized archive is refused with `InvalidArtifact` and a reason.

use super::read_zip_entry;
use crate::Error;
use std::io::Write;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

const APPSPEC: &str = "version: 0.0\nResources:\n  - orders:\n      Type: AWS::Lambda::Function\n";

/// An archive of `files`, each written with `options`.
fn archive(files: &[(&str, &[u8])], options: SimpleFileOptions) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

fn refusal(result: crate::Result<Option<Vec<u8>>>) -> String {
    match result {
        Err(Error::Refused(r)) => {
            assert_eq!(r.code, "InvalidArtifact");
            r.message
        }
        other => panic!("expected InvalidArtifact, got {other:?}"),
    }
}

#[test]
fn stored_and_deflated_entries_are_read_by_path() {
    for options in [
        deflated(),
        SimpleFileOptions::default().compression_method(CompressionMethod::Stored),
    ] {
        let zip = archive(
            &[
                ("README.md", b"hi"),
                ("deploy/appspec.yaml", APPSPEC.as_bytes()),
            ],
            options,
        );
        let got = read_zip_entry(&zip, "./deploy/appspec.yaml", 1024).unwrap();
        assert_eq!(got.as_deref(), Some(APPSPEC.as_bytes()));
        assert_eq!(read_zip_entry(&zip, "appspec.yaml", 1024).unwrap(), None);
    }
}

#[test]
fn a_zip64_artifact_is_read() {
    // ZIP64 extended information on the entry: the 32-bit size fields hold 0xFFFFFFFF and
    // the sizes are in the extra field, as streaming writers and large archives have them.
    let zip = archive(
        &[("appspec.yaml", APPSPEC.as_bytes())],
        deflated().large_file(true),
    );
    let central = zip
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        .expect("a central directory entry");
    assert_eq!(
        zip[central + 20..central + 28],
        [0xff; 8],
        "sizes in the ZIP64 field"
    );
    let got = read_zip_entry(&zip, "appspec.yaml", 1024).unwrap();
    assert_eq!(got.as_deref(), Some(APPSPEC.as_bytes()));
}

#[test]
fn an_entry_whose_crc_does_not_match_is_refused() {
    let mut zip = archive(
        &[("appspec.yaml", APPSPEC.as_bytes())],
        SimpleFileOptions::default().compression_method(CompressionMethod::Stored),
    );
    // Change one byte of the stored data: the sizes still agree, only the CRC-32 tells.
    let at = zip
        .windows(b"Resources".len())
        .position(|w| w == b"Resources")
        .unwrap();
    zip[at] = b'r';
    let message = refusal(read_zip_entry(&zip, "appspec.yaml", 1024));
    assert!(
        message.contains("appspec.yaml") && message.contains("checksum"),
        "{message}"
    );
}

#[test]
fn an_entry_over_the_limit_is_refused_before_it_is_inflated() {
    let big = vec![b'a'; 4096];
    let zip = archive(&[("appspec.yaml", &big)], deflated());
    let message = refusal(read_zip_entry(&zip, "appspec.yaml", 1024));
    assert!(
        message.contains("4096 bytes, over the 1024-byte limit"),
        "{message}"
    );
}

#[test]
fn what_is_not_a_zip_or_is_truncated_is_refused() {
    let message = refusal(read_zip_entry(b"not a zip at all", "appspec.yaml", 1024));
    assert!(message.contains("not a zip archive"), "{message}");

    let mut zip = archive(&[("appspec.yaml", APPSPEC.as_bytes())], deflated());
    let len = zip.len();
    zip.truncate(len - 10);
    let message = refusal(read_zip_entry(&zip, "appspec.yaml", 1024));
    assert!(message.contains("not a zip archive"), "{message}");
}
