//! Country codes: the officially assigned ISO 3166-1 alpha-2 codes.
//!
//! An export's `country` decides whether a person is in the policy's
//! region, so a code that names no country (a typo such as `"DR"`, or a
//! user-assigned code such as `"XK"` or `"EU"`) must be refused, not read as
//! "somewhere outside the region".

/// The 249 officially assigned codes of ISO 3166-1:2020 ("Codes for the
/// representation of names of countries and their subdivisions, Part 1:
/// Country codes"), as the ISO 3166 Maintenance Agency lists them (the same
/// set as Debian's `iso-codes` 4.15, `iso_3166-1.json`). Sorted, for a
/// binary search. Reserved, transitional and user-assigned codes (`UK`,
/// `XK`, `AA`, `ZZ`, ...) are not in it.
pub const ASSIGNED: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW",
];

/// Whether `code` is an officially assigned ISO 3166-1 alpha-2 code (exact:
/// two capital letters; `"de"` is not `"DE"`). Allocation-free.
pub fn is_assigned(code: &str) -> bool {
    code.len() == 2 && ASSIGNED.binary_search(&code).is_ok()
}

/// Checks a country code; the error says what is wrong with it.
pub fn check(code: &str) -> Result<(), String> {
    if is_assigned(code) {
        return Ok(());
    }
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Err(format!(
            "{code:?} is not an officially assigned ISO 3166-1 alpha-2 country code"
        ))
    } else {
        Err(format!(
            "{code:?} is not an ISO 3166-1 alpha-2 code (two capital letters)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_unique_and_two_capital_letters() {
        assert!(ASSIGNED.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        assert!(
            ASSIGNED
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn assigned_codes_pass_and_others_do_not() {
        for code in ["DE", "AD", "ZW", "GB", "SS"] {
            assert!(is_assigned(code), "{code}");
        }
        for code in ["XK", "UK", "EU", "ZZ", "AA", "de", "D", "DEU", "", "D\u{e9}"] {
            assert!(!is_assigned(code), "{code}");
        }
        assert_eq!(
            check("UK").unwrap_err(),
            "\"UK\" is not an officially assigned ISO 3166-1 alpha-2 country code"
        );
        assert_eq!(
            check("Germany").unwrap_err(),
            "\"Germany\" is not an ISO 3166-1 alpha-2 code (two capital letters)"
        );
    }
}
