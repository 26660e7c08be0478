//! Check digits that tell personal numbers from other numbers of the same
//! shape: a payment card number passes Luhn, a German tax id (Steuer-ID)
//! passes ISO 7064 MOD 11,10 with its digit-frequency rule. Written by hand:
//! a few lines each, and no crate does just this.

/// The digits of `s`, ignoring spaces, dashes and slashes.
fn digits(s: &str) -> Vec<u8> {
    s.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect()
}

/// Luhn (ISO/IEC 7812-1) over 12 to 19 digits (Maestro has 12).
pub fn card_is_valid(s: &str) -> bool {
    let d = digits(s);
    if !(12..=19).contains(&d.len()) {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A German Steuerliche Identifikationsnummer: 11 digits, the first not 0;
/// in the first ten, one digit appears twice or three times and at least
/// one digit not at all; the eleventh is the ISO 7064 MOD 11,10 check digit.
pub fn steuer_id_is_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[x as usize] += 1;
    }
    let repeated = counts.iter().filter(|&&c| c >= 2).count();
    if repeated != 1 || counts.iter().any(|&c| c > 3) {
        return false;
    }
    let mut product = 10u32;
    for &x in &d[..10] {
        let mut sum = (u32::from(x) + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = (11 - product) % 10;
    check == u32::from(d[10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_from_the_networks_test_ranges() {
        for card in [
            "4111 1111 1111 1111",
            "5555-5555-5555-4444",
            "378282246310005",
            "6011 1111 1111 1117",
        ] {
            assert!(card_is_valid(card), "{card}");
        }
        assert!(!card_is_valid("4111 1111 1111 1112"));
        assert!(!card_is_valid("1234"));
    }

    #[test]
    fn steuer_ids_with_their_check_digit() {
        // The Federal Central Tax Office's published example and variants.
        assert!(steuer_id_is_valid("86095742719"));
        assert!(steuer_id_is_valid("86 095 742 719"));
        assert!(!steuer_id_is_valid("86095742718"), "wrong check digit");
        assert!(!steuer_id_is_valid("06095742719"), "leading zero");
        assert!(!steuer_id_is_valid("12345678901"), "every digit once");
    }
}
