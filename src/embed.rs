//! TEMPORARY STUB until the `guest` branch lands.
pub fn kernel_to_c_header(bytes: &[u8], symbol: &str) -> String {
    let mut s = format!("static const unsigned char {symbol}[] = {{");
    for b in bytes {
        s.push_str(&format!("{b},"));
    }
    s.push_str(&format!(
        "}};\nstatic const unsigned int {symbol}_len = {};\n",
        bytes.len()
    ));
    s
}
