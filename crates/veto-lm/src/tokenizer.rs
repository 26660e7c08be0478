//! The fixed tokenizer: UTF-8 bytes are tokens 0..=255, then end-of-text and
//! begin-of-text. Nothing about it depends on training data.

/// End of a text (predicted like any byte).
pub const EOS: u32 = 256;
/// Padding before a text (context only, never predicted).
pub const BOS: u32 = 257;
/// Tokens a model predicts: the 256 bytes and EOS.
pub const PREDICTED: usize = 257;

/// The tokens of `text`, followed by EOS.
pub fn encode(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.bytes().map(u32::from).chain(std::iter::once(EOS))
}

/// Text from tokens (bytes only; invalid UTF-8 is replaced).
pub fn decode(tokens: &[u32]) -> String {
    let bytes: Vec<u8> = tokens.iter().filter(|t| **t < 256).map(|t| *t as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
