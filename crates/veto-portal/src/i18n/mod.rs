//! Every text of the pages in German (the default) and English, and the
//! words for the codes that snapshots and objections store.

mod de;
mod en;

use veto_core::{Channel, Kind, LateObjections, ObjectionScope, Platform, Reason};

/// The language of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    /// `?lang=` first, then the `lang` cookie, then German.
    pub fn pick(query: Option<&str>, cookie: Option<&str>) -> Lang {
        match query.or(cookie) {
            Some("en") => Lang::En,
            _ => Lang::De,
        }
    }

    /// The language of a page: `?lang=`, then the `lang` cookie (a choice
    /// made on this portal), then the browser's `Accept-Language` (a first
    /// visit), then German.
    pub fn negotiate(query: Option<&str>, cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if query.is_some() || cookie.is_some() {
            return Lang::pick(query, cookie);
        }
        accept_language.and_then(Lang::from_accept_language).unwrap_or(Lang::De)
    }

    /// The preferred of German and English in an `Accept-Language` header
    /// (RFC 9110: quality values, `q=0` means "not this one"); None when it
    /// names neither. Malformed parts are skipped, never an error.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(u16, Lang)> = None;
        for part in header.split(',').take(32) {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let lang = match tag.split('-').next() {
                Some("de") => Lang::De,
                Some("en") => Lang::En,
                _ => continue,
            };
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .map(quality)
                .unwrap_or(1000);
            // Strictly greater: of equal preference, the first one named wins.
            if q > 0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::De => &DE,
            Lang::En => &EN,
        }
    }

    /// A time as people read it, in the policy's zone with its offset:
    /// "26.05.2025, 23:59:59 +02:00" or "26 May 2025, 23:59:59 +02:00".
    /// Whole seconds: the fraction is noise to a reader.
    pub fn time(self, t: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> String {
        let local = t.with_timezone(&zone);
        match self {
            Lang::De => local.format("%d.%m.%Y, %H:%M:%S %:z").to_string(),
            Lang::En => local.format("%-d %B %Y, %H:%M:%S %:z").to_string(),
        }
    }

    /// A calendar day: "26.05.2025" or "26 May 2025".
    pub fn date(self, d: chrono::NaiveDate) -> String {
        match self {
            Lang::De => d.format("%d.%m.%Y").to_string(),
            Lang::En => d.format("%-d %b %Y").to_string(),
        }
    }

    pub fn platform(self, p: Platform) -> &'static str {
        match p {
            Platform::Facebook => "Facebook",
            Platform::Instagram => "Instagram",
            Platform::Whatsapp => "WhatsApp",
        }
    }

    pub fn scope(self, s: ObjectionScope) -> &'static str {
        let t = self.texts();
        match s {
            ObjectionScope::All => t.scope_all,
            ObjectionScope::Facebook => t.scope_facebook,
            ObjectionScope::Instagram => t.scope_instagram,
            ObjectionScope::Whatsapp => t.scope_whatsapp,
        }
    }

    pub fn kind(self, k: Kind) -> &'static str {
        let de = self == Lang::De;
        match k {
            Kind::Name => "Name",
            Kind::Username if de => "Benutzername",
            Kind::Username => "username",
            Kind::ProfilePicture if de => "Profilbild",
            Kind::ProfilePicture => "profile picture",
            Kind::Post if de => "Beitrag",
            Kind::Post => "post",
            Kind::Photo if de => "Foto",
            Kind::Photo => "photo",
            Kind::Video if de => "Video",
            Kind::Video => "video",
            Kind::Story if de => "Story",
            Kind::Story => "story",
            Kind::Reel if de => "Reel",
            Kind::Reel => "reel",
            Kind::Comment if de => "Kommentar",
            Kind::Comment => "comment",
            Kind::AiChat if de => "Gespräch mit dem KI-Assistenten",
            Kind::AiChat => "conversation with the AI assistant",
            Kind::PrivateMessage if de => "private Nachricht",
            Kind::PrivateMessage => "private message",
        }
    }

    pub fn reason(self, r: Reason) -> &'static str {
        let de = self == Lang::De;
        match r {
            Reason::NotYetCreated if de => "nach dem Stichtag erstellt",
            Reason::NotYetCreated => "created after the cut-off",
            Reason::Deleted if de => "gelöscht",
            Reason::Deleted => "deleted",
            Reason::OutOfScope if de => "von der Richtlinie nicht erfasst",
            Reason::OutOfScope => "not covered by the policy",
            Reason::NotPublic if de => "nicht öffentlich",
            Reason::NotPublic => "not public",
            Reason::AgeUnknown if de => "Alter unbekannt",
            Reason::AgeUnknown => "age unknown",
            Reason::Minor if de => "minderjährig",
            Reason::Minor => "minor",
            Reason::OutOfRegion if de => "außerhalb der erfassten Länder",
            Reason::OutOfRegion => "outside the covered countries",
            Reason::Objection if de => "Widerspruch",
            Reason::Objection => "objection",
            Reason::TaggedMinor if de => "zeigt ein Kind",
            Reason::TaggedMinor => "shows a child",
            Reason::TaggedObjector if de => "zeigt eine Person mit Widerspruch",
            Reason::TaggedObjector => "shows a person who objected",
            Reason::CreatorOptOut if de => "vom Urheber für KI-Training gesperrt",
            Reason::CreatorOptOut => "its creator opted out of AI training",
        }
    }

    pub fn channel(self, c: Channel) -> &'static str {
        let de = self == Lang::De;
        match c {
            Channel::Web if de => "Portal",
            Channel::Web => "Portal",
            Channel::App => "App",
            Channel::Email if de => "E-Mail",
            Channel::Email => "Email",
            Channel::Letter if de => "Brief",
            Channel::Letter => "Letter",
            Channel::Api if de => "Schnittstelle (API)",
            Channel::Api => "API",
            Channel::Gpc if de => "Browser-Signal (GPC)",
            Channel::Gpc => "browser signal (GPC)",
        }
    }

    /// A code as stored (a platform, kind, reason, scope or channel) in
    /// words. Snapshots and imports hold plain strings: one this veto does
    /// not know is shown as it is rather than failing the page.
    pub fn code(self, code: &str) -> String {
        if let Ok(p) = code.parse::<Platform>() {
            return self.platform(p).to_string();
        }
        if let Ok(k) = code.parse::<Kind>() {
            return self.kind(k).to_string();
        }
        if let Ok(r) = code.parse::<Reason>() {
            return self.reason(r).to_string();
        }
        if let Ok(c) = code.parse::<Channel>() {
            return self.channel(c).to_string();
        }
        match code.parse::<ObjectionScope>() {
            Ok(s) => self.scope(s).to_string(),
            Err(_) => code.to_string(),
        }
    }

    /// What an objection after the deadline does to models already
    /// trained, in plain words, from the policy in force.
    pub fn late_effect(self, late: LateObjections) -> &'static str {
        match late {
            LateObjections::KeepTrained => self.texts().late_keep,
            LateObjections::Unlearn => self.texts().late_unlearn,
        }
    }
}

/// A quality value ("0.8", "1", "0.000") in thousandths; a malformed one
/// counts as 0, so the range it qualifies is not chosen.
fn quality(q: &str) -> u16 {
    match q.trim().parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => (v * 1000.0).round() as u16,
        _ => 0,
    }
}

/// The texts of all pages in one language.
pub struct Texts {
    pub code: &'static str,
    pub other_code: &'static str,
    pub other_name: &'static str,
    pub site: &'static str,
    pub nav_home: &'static str,
    pub nav_object: &'static str,
    pub nav_mydata: &'static str,
    pub nav_login: &'static str,
    pub nav_logout: &'static str,
    pub nav_logout_everywhere: &'static str,
    pub nav_verify: &'static str,
    pub nav_nonuser: &'static str,
    pub nav_operator: &'static str,
    pub landing_title: &'static str,
    pub landing_used: &'static str,
    pub landing_used_list: &'static str,
    pub landing_not_used: &'static str,
    pub landing_not_used_list: &'static str,
    pub landing_assistant_trained: &'static str,
    pub landing_assistant_excluded: &'static str,
    pub landing_from: &'static str,
    pub landing_deadline: &'static str,
    pub landing_remaining: &'static str,
    pub landing_after_deadline: &'static str,
    pub landing_cta: &'static str,
    pub login_title: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub login_button: &'static str,
    pub login_failed: &'static str,
    /// `{minutes}` is replaced by the wait.
    pub login_limited: &'static str,
    pub object_title: &'static str,
    pub object_intro: &'static str,
    pub scope_label: &'static str,
    pub scope_all: &'static str,
    pub scope_facebook: &'static str,
    pub scope_instagram: &'static str,
    pub scope_whatsapp: &'static str,
    pub reason_label: &'static str,
    pub email_label: &'static str,
    pub object_button: &'static str,
    pub receipt_title: &'static str,
    pub receipt_withdrawn_title: &'static str,
    pub receipt_id: &'static str,
    pub receipt_person: &'static str,
    pub receipt_scope: &'static str,
    pub receipt_filed: &'static str,
    pub receipt_withdrawn: &'static str,
    pub receipt_deadline: &'static str,
    pub yes_before: &'static str,
    pub no_after: &'static str,
    pub receipt_signature: &'static str,
    pub receipt_download: &'static str,
    pub receipt_print: &'static str,
    pub withdraw_button: &'static str,
    pub meaning_before: &'static str,
    pub meaning_after: &'static str,
    pub meaning_keep: &'static str,
    pub meaning_unlearn: &'static str,
    pub meaning_withdrawn: &'static str,
    pub verify_title: &'static str,
    pub verify_intro: &'static str,
    pub verify_button: &'static str,
    pub verify_ok: &'static str,
    pub verify_bad: &'static str,
    pub public_key: &'static str,
    pub mydata_title: &'static str,
    pub mydata_objections: &'static str,
    pub mydata_none: &'static str,
    pub mydata_snapshots: &'static str,
    pub mydata_included: &'static str,
    pub mydata_excluded: &'static str,
    pub mydata_not_in_export: &'static str,
    pub mydata_items: &'static str,
    pub mydata_models: &'static str,
    pub mydata_col_model: &'static str,
    pub mydata_col_status: &'static str,
    pub mydata_col_contribution: &'static str,
    pub mydata_status_removed: &'static str,
    pub mydata_status_pending: &'static str,
    pub mydata_status_kept: &'static str,
    pub mydata_status_in_model: &'static str,
    pub mydata_certificate: &'static str,
    pub mydata_tokens: &'static str,
    pub mydata_by_kind: &'static str,
    pub mydata_by_platform: &'static str,
    pub nonuser_title: &'static str,
    pub nonuser_intro: &'static str,
    pub known_as_label: &'static str,
    pub handles_label: &'static str,
    pub phones_label: &'static str,
    pub nonuser_button: &'static str,
    pub nonuser_sent: &'static str,
    pub nonuser_verified: &'static str,
    pub nonuser_invalid: &'static str,
    pub operator_title: &'static str,
    pub per_day: &'static str,
    pub by_scope: &'static str,
    pub by_channel: &'static str,
    pub review_queue: &'static str,
    pub mydata_mentions: &'static str,
    pub review_none: &'static str,
    pub review_explain: &'static str,
    pub review_col_objection: &'static str,
    pub review_col_name: &'static str,
    pub review_col_authors: &'static str,
    pub review_col_decide: &'static str,
    pub review_approve: &'static str,
    pub review_reject: &'static str,
    pub unlearn_queue: &'static str,
    pub unlearn_none: &'static str,
    pub unlearn_explain: &'static str,
    pub unlearn_col_model: &'static str,
    pub unlearn_col_person: &'static str,
    pub unlearn_col_items: &'static str,
    pub unlearn_col_age: &'static str,
    pub unlearn_overdue: &'static str,
    pub before_after: &'static str,
    pub snapshots: &'static str,
    pub csv: &'static str,
    pub receipt_mail_subject: &'static str,
    pub receipt_mail_withdrawn_subject: &'static str,
    pub receipt_mail_intro: &'static str,
    pub receipt_mail_withdrawn_intro: &'static str,
    pub receipt_mail_link: &'static str,
    pub receipt_mail_json: &'static str,
    pub nonuser_confirm_intro: &'static str,
    pub nonuser_confirm_button: &'static str,
    pub nonuser_too_many: &'static str,
    pub skip_link: &'static str,
    pub nav_label: &'static str,
    pub late_title: &'static str,
    pub late_keep: &'static str,
    pub late_unlearn: &'static str,
    pub countdown_format: &'static str,
    pub withdraw_confirm_title: &'static str,
    pub withdraw_confirm_intro: &'static str,
    pub withdraw_confirm_label: &'static str,
    pub withdraw_confirm_missing: &'static str,
    pub withdraw_keep: &'static str,
    pub mydata_col_snapshot: &'static str,
    pub mydata_col_as_of: &'static str,
    pub mydata_col_details: &'static str,
    pub mydata_by_reason: &'static str,
    pub operator_col_policy: &'static str,
    pub operator_col_count: &'static str,
    pub operator_col_category: &'static str,
    pub verify_label: &'static str,
    pub verify_bad_format: &'static str,
    pub verify_bad_signature: &'static str,
    pub email_field: &'static str,
    pub nonuser_missing: &'static str,
    pub error_title: &'static str,
    pub error_bad_request: &'static str,
    pub error_unauthorized: &'static str,
    pub error_forbidden: &'static str,
    pub error_not_found: &'static str,
    pub error_too_many: &'static str,
    pub error_internal: &'static str,
    pub error_home: &'static str,
    pub gpc_notice: &'static str,
    pub show_password: &'static str,
    pub login_code_intro: &'static str,
    pub login_code_label: &'static str,
    pub login_code_failed: &'static str,
    pub login_code_expired: &'static str,
    pub login_needs_second_factor: &'static str,
    pub nav_account: &'static str,
    pub password_title: &'static str,
    pub password_current: &'static str,
    pub password_new: &'static str,
    pub password_repeat: &'static str,
    pub password_hint: &'static str,
    pub password_button: &'static str,
    pub password_changed: &'static str,
    pub password_wrong_current: &'static str,
    pub password_mismatch: &'static str,
    pub password_too_short: &'static str,
    pub password_too_long: &'static str,
    pub password_guessable: &'static str,
    pub password_mail_subject: &'static str,
    pub password_mail_body: &'static str,
}

pub use de::DE;
pub use en::EN;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_of_german_and_english() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("fr, de-AT;q=0.5, en;q=0.4"), Some(Lang::De));
        assert_eq!(Lang::from_accept_language("de;q=0.2, en;q=0.8"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("en;q=0, de;q=0.1"), Some(Lang::De));
        assert_eq!(Lang::from_accept_language("fr-FR, *"), None);
        assert_eq!(Lang::from_accept_language("en;q=abc, ;;, de"), Some(Lang::De));
        assert_eq!(Lang::from_accept_language(""), None);
        // A choice made on the portal outranks the browser's.
        assert_eq!(Lang::negotiate(None, Some("de"), Some("en")), Lang::De);
        assert_eq!(Lang::negotiate(Some("en"), Some("de"), Some("de")), Lang::En);
        assert_eq!(Lang::negotiate(None, None, Some("en-GB")), Lang::En);
        assert_eq!(Lang::negotiate(None, None, None), Lang::De);
    }

    #[test]
    fn times_are_local_with_the_offset_in_whole_seconds() {
        let t = chrono::DateTime::parse_from_rfc3339("2025-05-26T21:59:59.4+00:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(Lang::De.time(t, berlin), "26.05.2025, 23:59:59 +02:00");
        assert_eq!(Lang::En.time(t, berlin), "26 May 2025, 23:59:59 +02:00");
    }

    #[test]
    fn every_code_has_words_in_both_languages() {
        for lang in [Lang::De, Lang::En] {
            for r in Reason::ALL {
                assert!(!lang.code(r.as_str()).contains('_'), "{r}");
            }
            for k in Kind::ALL {
                assert!(!lang.code(k.as_str()).contains('_'), "{k}");
            }
            assert_eq!(lang.code("instagram"), "Instagram");
            assert_eq!(lang.code("something-new"), "something-new");
        }
        assert_eq!(Lang::De.code("not_public"), "nicht öffentlich");
        assert_eq!(Lang::De.code("web"), "Portal");
    }
}
