use super::*;
use std::io::Write;

/// The payload of a tiny `.npy` (version 1.0): magic, u16 header length, header text.
fn npy_payload(bytes: &[u8]) -> (&str, &[u8]) {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not an npy file");
    assert_eq!(bytes[6], 1, "npy version");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    (header, &bytes[10 + header_len..])
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/tflite")
            .join(name),
    )
    .unwrap()
}

#[test]
fn loads_the_vendored_test_split() {
    let m = load(&default_dir(), Split::Test).unwrap();
    assert_eq!((m.count, m.rows, m.cols), (10_000, 28, 28));
    assert_eq!(m.images.len(), 10_000 * 784);
    assert_eq!(m.labels.len(), 10_000);

    let npy = fixture("mnist_test_labels_first32.npy");
    let (header, labels) = npy_payload(&npy);
    assert!(
        header.contains("'descr': '|u1'") && header.contains("(32,)"),
        "{header}"
    );
    assert_eq!(m.labels_range(0..32), labels);
    assert_eq!(m.label(0), Some(7));

    // The fixtures' float inputs are the first 32 test images as pixel/255 in f32.
    let npy = fixture("mnist_cnn_float32.input.npy");
    let (header, data) = npy_payload(&npy);
    assert!(
        header.contains("'<f4'") && header.contains("(32, 28, 28)"),
        "{header}"
    );
    let expected: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let ours = m.images_f32_scaled(0..32);
    assert_eq!(ours.len(), expected.len());
    assert!(ours
        .iter()
        .zip(&expected)
        .all(|(a, b)| a.to_bits() == b.to_bits()));

    assert_eq!(m.image(9_999).map(<[u8]>::len), Some(784));
    assert_eq!(m.image(10_000), None);
    assert!(m.images_f32_scaled(9_999..20_000).len() == 784);
}

#[test]
fn loads_the_vendored_train_split() {
    let m = load(&default_dir(), Split::Train).unwrap();
    assert_eq!((m.count, m.rows, m.cols), (60_000, 28, 28));
    // Every digit occurs thousands of times in the training set.
    let mut histogram = [0usize; 10];
    for &l in &m.labels {
        histogram[usize::from(l)] += 1;
    }
    assert!(
        histogram.iter().all(|&n| (5_000..7_000).contains(&n)),
        "{histogram:?}"
    );
}

/// A scratch directory unique to one test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("ferrolite-mnist-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.0.join(name), bytes).unwrap();
    }

    fn write_gz(&self, name: &str, bytes: &[u8]) {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        self.write(name, &enc.finish().unwrap());
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// Three 2×2 images and their labels.
fn small_set() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..12).collect();
    (
        idx(0x803, &[3, 2, 2], &pixels),
        idx(0x801, &[3], &[4, 0, 9]),
    )
}

fn message(r: Result<Mnist, DataError>) -> String {
    match r {
        Ok(_) => panic!("bad data accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reads_raw_and_gzipped_files_by_content() {
    let dir = Scratch::new("ok");
    let (images, labels) = small_set();
    // Raw images, gzipped labels; and a gzip stream detected by magic, not name.
    dir.write("train-images-idx3-ubyte", &images);
    dir.write_gz("train-labels-idx1-ubyte", &labels);
    let m = load(&dir.0, Split::Train).unwrap();
    assert_eq!((m.count, m.rows, m.cols), (3, 2, 2));
    assert_eq!(m.image(1), Some(&[4u8, 5, 6, 7][..]));
    assert_eq!(m.labels, vec![4, 0, 9]);
    assert_eq!(
        m.images_f32_scaled(2..3),
        vec![8.0 / 255.0, 9.0 / 255.0, 10.0 / 255.0, 11.0 / 255.0]
    );
}

#[test]
fn missing_directory_names_the_file_and_the_flag() {
    let dir = Scratch::new("missing");
    let e = message(load(&dir.0.join("nowhere"), Split::Test));
    assert!(e.contains("MNIST not found in"), "{e}");
    assert!(e.contains("t10k-images-idx3-ubyte.gz"), "{e}");
    assert!(e.contains("--data DIR"), "{e}");
}

#[test]
fn bad_files_are_explained() {
    let (images, labels) = small_set();
    let case = |name: &str, images: &[u8], labels: &[u8], gz: bool| {
        let dir = Scratch::new(name);
        if gz {
            dir.write_gz("t10k-images-idx3-ubyte.gz", images);
            dir.write_gz("t10k-labels-idx1-ubyte.gz", labels);
        } else {
            dir.write("t10k-images-idx3-ubyte", images);
            dir.write("t10k-labels-idx1-ubyte", labels);
        }
        message(load(&dir.0, Split::Test))
    };

    let e = case("trunc", &images[..images.len() - 1], &labels, true);
    assert!(
        e.contains("t10k-images-idx3-ubyte.gz") && e.contains("truncated"),
        "{e}"
    );
    let e = case("trunc-header", &images[..10], &labels, false);
    assert!(e.contains("truncated in the IDX header"), "{e}");
    // A cut gzip stream (not a short payload inside a complete stream).
    let dir = Scratch::new("cut-gzip");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&images).unwrap();
    let gz = enc.finish().unwrap();
    dir.write("t10k-images-idx3-ubyte.gz", &gz[..gz.len() - 6]);
    dir.write("t10k-labels-idx1-ubyte", &labels);
    let e = message(load(&dir.0, Split::Test));
    assert!(e.contains("t10k-images-idx3-ubyte.gz"), "{e}");

    let e = case("magic", &labels, &labels, false);
    assert!(
        e.contains("magic number is 0x00000801, expected 0x00000803"),
        "{e}"
    );
    let e = case("magic-labels", &images, &images, false);
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("0x00000803"),
        "{e}"
    );

    let e = case("count", &images, &idx(0x801, &[2], &[1, 2]), false);
    assert!(e.contains("has 2 labels") && e.contains("3 images"), "{e}");

    let e = case("label", &images, &idx(0x801, &[3], &[1, 10, 2]), false);
    assert!(e.contains("label 1 is 10"), "{e}");

    let mut long = images.clone();
    long.push(0);
    let e = case("long", &long, &labels, false);
    assert!(e.contains("has data after the 12 pixel bytes"), "{e}");

    // A header claiming 4 billion images, backed by 12 bytes: refused without allocating.
    let huge = idx(0x803, &[u32::MAX, 28, 28], &images[16..]);
    let e = case("huge", &huge, &labels, true);
    assert!(
        e.contains("more than the 2147483648 pixel bytes this reader accepts"),
        "{e}"
    );
    // Within the limit but far beyond the file: reads what is there, then reports it.
    let big = idx(0x803, &[100_000, 28, 28], &images[16..]);
    let e = case("big", &big, &idx(0x801, &[100_000], &[]), false);
    assert!(
        e.contains("promises 78400000 pixel bytes but only 12 follow"),
        "{e}"
    );

    let e = case("zero-dims", &idx(0x803, &[3, 0, 2], &[]), &labels, false);
    assert!(e.contains("0×2"), "{e}");
}

/// A permission or device error is not cured by downloading again; damage is.
#[test]
fn only_damage_suggests_downloading_again() {
    let p = Path::new("t10k-images-idx3-ubyte.gz");
    let denied = io_err(p)(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
    assert!(!denied.to_string().contains("download"), "{denied}");
    let cut = io_err(p)(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "incomplete deflate stream",
    ));
    assert!(cut.to_string().contains("download it again"), "{cut}");
    // The message carries the cause once, and no `source` repeats it in a chain.
    assert_eq!(
        cut.to_string().matches("incomplete deflate stream").count(),
        1
    );
    assert!(std::error::Error::source(&cut).is_none());
}
