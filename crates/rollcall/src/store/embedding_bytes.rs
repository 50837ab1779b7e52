//! Embeddings are stored as little-endian `f32` bytes (BYTEA / BLOB).

/// Encodes an embedding as little-endian `f32` bytes.
pub fn encode(embedding: &[f32]) -> Vec<u8> {
    embedding.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes little-endian `f32` bytes; `None` if the length is not `4 * dim`.
pub fn decode(bytes: &[u8], dim: usize) -> Option<Vec<f32>> {
    let (chunks, rest) = bytes.as_chunks::<4>();
    if !rest.is_empty() || chunks.len() != dim {
        return None;
    }
    Some(chunks.iter().map(|c| f32::from_le_bytes(*c)).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let v = [0.0_f32, -1.5, 3.25e-7, f32::MAX];
        let bytes = super::encode(&v);
        assert_eq!(bytes.len(), 16);
        assert_eq!(&bytes[4..8], &(-1.5_f32).to_le_bytes());
        assert_eq!(super::decode(&bytes, 4).unwrap(), v);
    }

    #[test]
    fn wrong_length_is_rejected() {
        assert_eq!(super::decode(&[0, 0, 0], 1), None);
        assert_eq!(super::decode(&[0; 8], 1), None);
        assert_eq!(super::decode(&[], 0), Some(vec![]));
    }
}
