//! Every text of the pages in German (the default) and English, and the
//! words for the codes that snapshots and objections store.

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
    pub mydata_by_kind: &'static str,
    pub mydata_by_platform: &'static str,
    pub nonuser_title: &'static str,
    pub nonuser_intro: &'static str,
    pub known_as_label: &'static str,
    pub nonuser_button: &'static str,
    pub nonuser_sent: &'static str,
    pub nonuser_verified: &'static str,
    pub nonuser_invalid: &'static str,
    pub operator_title: &'static str,
    pub per_day: &'static str,
    pub by_scope: &'static str,
    pub by_channel: &'static str,
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
}

pub static DE: Texts = Texts {
    code: "de",
    other_code: "en",
    other_name: "English",
    site: "veto – Widerspruch gegen KI-Training",
    nav_home: "Start",
    nav_object: "Widersprechen",
    nav_mydata: "Meine Daten",
    nav_login: "Anmelden",
    nav_logout: "Abmelden",
    nav_logout_everywhere: "Überall abmelden",
    nav_verify: "Quittung prüfen",
    nav_nonuser: "Ohne Konto widersprechen",
    nav_operator: "Betrieb",
    landing_title: "Ihre Inhalte und das KI-Training",
    landing_used: "Verwendet werden öffentliche Inhalte erwachsener Nutzerinnen und Nutzer:",
    landing_used_list: "Namen, Benutzernamen, Profilbilder, öffentliche Beiträge, Fotos, Videos, Stories, Reels und Kommentare.",
    landing_not_used: "Nicht verwendet werden:",
    landing_not_used_list: "private Nachrichten, Ende-zu-Ende-verschlüsselte Chats, Inhalte nur für Freunde oder nur für Sie, und alles von Minderjährigen.",
    landing_assistant_trained: "Gespräche mit dem KI-Assistenten werden verwendet.",
    landing_assistant_excluded: "Gespräche mit dem KI-Assistenten werden nicht verwendet.",
    landing_from: "Training ab",
    landing_deadline: "Widerspruch vor dem ersten Training bis",
    landing_remaining: "Verbleibende Zeit",
    landing_after_deadline: "Die Frist ist abgelaufen. Ein Widerspruch wirkt weiter für alle künftigen Trainingsdaten.",
    landing_cta: "Jetzt widersprechen",
    login_title: "Anmelden",
    username: "Benutzername",
    password: "Passwort",
    login_button: "Anmelden",
    login_failed: "Benutzername oder Passwort ist falsch.",
    login_limited: "Zu viele fehlgeschlagene Anmeldungen von diesem Anschluss oder für dieses Konto. Bitte versuchen Sie es in {minutes} Minuten wieder.",
    object_title: "Widerspruch gegen die Nutzung für KI-Training (Art. 21 DSGVO)",
    object_intro: "Ein Widerspruch gilt für alle Konten in Ihrer Kontenübersicht, wenn Sie nichts anderes wählen. Eine Begründung ist nicht nötig.",
    scope_label: "Geltungsbereich",
    scope_all: "Alle Konten in dieser Kontenübersicht",
    scope_facebook: "Nur Facebook",
    scope_instagram: "Nur Instagram",
    scope_whatsapp: "Nur WhatsApp",
    reason_label: "Begründung (freiwillig)",
    email_label: "Quittung an",
    object_button: "Widerspruch einlegen",
    receipt_title: "Quittung: Ihr Widerspruch ist eingegangen",
    receipt_withdrawn_title: "Quittung: Ihr Widerspruch ist zurückgenommen",
    receipt_id: "Widerspruchs-Nr.",
    receipt_person: "Person",
    receipt_scope: "Geltungsbereich",
    receipt_filed: "Eingegangen",
    receipt_withdrawn: "Zurückgenommen",
    receipt_deadline: "Vor Ablauf der Frist",
    yes_before: "ja",
    no_after: "nein",
    receipt_signature: "Signatur (Ed25519)",
    receipt_download: "Quittung als JSON herunterladen",
    receipt_print: "Zum Drucken nutzen Sie die Druckfunktion Ihres Browsers.",
    withdraw_button: "Widerspruch zurücknehmen",
    meaning_before: "Ihr Widerspruch ging vor dem ersten Training ein: Ihre Inhalte werden nie für das Training verwendet.",
    meaning_after: "Ihr Widerspruch ging nach der Frist ein: Alle künftigen Trainingsdaten schließen Ihre Inhalte aus.",
    meaning_keep: "Bereits trainierte Modelle behält der Betreiber nach dieser Richtlinie bei.",
    meaning_unlearn: "Bereits trainierte Modelle werden neu trainiert, ohne Ihre Daten (exaktes Verlernen).",
    meaning_withdrawn: "Der Widerspruch gilt nicht mehr: Künftige Trainingsdaten können Ihre öffentlichen Inhalte wieder enthalten.",
    verify_title: "Quittung prüfen",
    verify_intro: "Fügen Sie die JSON-Quittung ein. Geprüft wird die Signatur mit dem veröffentlichten Schlüssel dieser Installation.",
    verify_button: "Prüfen",
    verify_ok: "Die Quittung ist echt und unverändert.",
    verify_bad: "Die Quittung ist nicht gültig",
    public_key: "Öffentlicher Schlüssel",
    mydata_title: "Meine Daten",
    mydata_objections: "Ihre Widersprüche",
    mydata_none: "keine",
    mydata_snapshots: "Trainingsdaten-Stände",
    mydata_included: "enthalten",
    mydata_excluded: "ausgeschlossen",
    mydata_not_in_export: "keine Inhalte in diesem Stand",
    mydata_items: "Einzelne Inhalte anzeigen",
    mydata_by_kind: "nach Art",
    mydata_by_platform: "nach Dienst",
    nonuser_title: "Widerspruch ohne Konto",
    nonuser_intro: "Sie haben kein Konto, erscheinen aber in Inhalten anderer? Nennen Sie Ihre E-Mail-Adresse und die Namen oder @Benutzernamen, unter denen man Sie kennt. Sie erhalten einen Bestätigungslink.",
    known_as_label: "Namen und @Benutzernamen (einer pro Zeile)",
    nonuser_button: "Widerspruch senden",
    nonuser_sent: "Danke. Bitte bestätigen Sie den Widerspruch über den Link in der E-Mail.",
    nonuser_verified: "Ihr Widerspruch ist bestätigt. Erwähnungen dieser Namen werden in Trainingsdaten entfernt.",
    nonuser_invalid: "Dieser Link ist ungültig oder wurde schon benutzt.",
    operator_title: "Betrieb: Widersprüche und Trainingsdaten",
    per_day: "Widersprüche pro Tag",
    by_scope: "Nach Geltungsbereich",
    by_channel: "Nach Kanal",
    before_after: "Vor / nach der Frist",
    snapshots: "Trainingsdaten-Stände",
    csv: "Als CSV exportieren",
    receipt_mail_subject: "veto: Quittung für Ihren Widerspruch",
    receipt_mail_withdrawn_subject: "veto: Quittung für die Rücknahme Ihres Widerspruchs",
    receipt_mail_intro: "Ihr Widerspruch gegen die Nutzung Ihrer Daten für KI-Training ist eingegangen.",
    receipt_mail_withdrawn_intro: "Sie haben Ihren Widerspruch gegen die Nutzung Ihrer Daten für KI-Training zurückgenommen.",
    receipt_mail_link: "Die Quittung im Portal:",
    receipt_mail_json: "Die signierte Quittung (JSON; prüfbar unter „Quittung prüfen“):",
    nonuser_confirm_intro: "Bitte bestätigen Sie Ihren Widerspruch mit dem Knopf. Erst dann wird er wirksam.",
    nonuser_confirm_button: "Widerspruch bestätigen",
    nonuser_too_many: "An diese Adresse gingen in letzter Zeit schon mehrere Bestätigungs-Mails. Bitte nutzen Sie den Link aus einer dieser Mails oder versuchen Sie es später wieder.",
    skip_link: "Zum Inhalt springen",
    nav_label: "Hauptmenü",
    late_title: "Was mit bereits trainierten Daten geschieht",
    late_keep: "Ein Widerspruch vor Ablauf der Frist hält Ihre Inhalte aus jedem Training heraus. Ein späterer Widerspruch wirkt nur für künftiges Training: Bereits trainierte Modelle behalten Ihre Daten.",
    late_unlearn: "Ein Widerspruch vor Ablauf der Frist hält Ihre Inhalte aus jedem Training heraus. Auch ein späterer Widerspruch wirkt: Ihre Daten werden innerhalb eines Monats aus bereits trainierten Modellen entfernt (die Modelle werden ohne sie neu trainiert).",
    countdown_format: "{d} Tg. {h} Std. {m} Min.",
    withdraw_confirm_title: "Widerspruch zurücknehmen?",
    withdraw_confirm_intro: "Wenn Sie den Widerspruch zurücknehmen, können künftige Trainingsdaten Ihre öffentlichen Inhalte wieder enthalten. Sie können jederzeit erneut widersprechen.",
    withdraw_confirm_label: "Ja, ich möchte diesen Widerspruch zurücknehmen.",
    withdraw_confirm_missing: "Bitte bestätigen Sie die Rücknahme mit dem Häkchen.",
    withdraw_keep: "Nein, zurück zur Quittung",
    mydata_col_snapshot: "Stand",
    mydata_col_as_of: "Stichtag",
    mydata_col_details: "Einzelheiten",
    mydata_by_reason: "Gründe",
    operator_col_policy: "Richtlinie",
    operator_col_count: "Anzahl",
    operator_col_category: "Kategorie",
    verify_label: "Quittung (JSON)",
    verify_bad_format: "Das ist keine vollständige Quittung im erwarteten Format. Bitte fügen Sie den ganzen JSON-Text unverändert ein.",
    verify_bad_signature: "Die Signatur passt nicht: Die Quittung wurde verändert oder stammt nicht von dieser Installation.",
    email_field: "E-Mail-Adresse",
    nonuser_missing: "Bitte geben Sie eine E-Mail-Adresse und mindestens einen Namen oder @Benutzernamen an.",
    error_title: "Das hat nicht geklappt",
    error_bad_request: "Die Anfrage ist unvollständig oder ungültig. Bitte gehen Sie zurück und prüfen Sie Ihre Eingaben.",
    error_unauthorized: "Bitte melden Sie sich an.",
    error_forbidden: "Das ist nicht erlaubt. Wenn Sie ein Formular abgeschickt haben: Laden Sie die Seite neu und versuchen Sie es noch einmal.",
    error_not_found: "Diese Seite gibt es nicht.",
    error_too_many: "Zu viele Anfragen. Bitte warten Sie einen Moment und versuchen Sie es dann wieder.",
    error_internal: "Ein Fehler auf unserer Seite. Bitte versuchen Sie es später noch einmal.",
    error_home: "Zur Startseite",
};

pub static EN: Texts = Texts {
    code: "en",
    other_code: "de",
    other_name: "Deutsch",
    site: "veto – object to AI training",
    nav_home: "Home",
    nav_object: "Object",
    nav_mydata: "My data",
    nav_login: "Log in",
    nav_logout: "Log out",
    nav_logout_everywhere: "Log out everywhere",
    nav_verify: "Verify a receipt",
    nav_nonuser: "Object without an account",
    nav_operator: "Operations",
    landing_title: "Your content and AI training",
    landing_used: "What is used is the public content of adult users:",
    landing_used_list: "names, usernames, profile pictures, public posts, photos, videos, stories, reels and comments.",
    landing_not_used: "Never used:",
    landing_not_used_list: "private messages, end-to-end encrypted chats, content shared with friends or only you, and anything by minors.",
    landing_assistant_trained: "Conversations with the AI assistant are used.",
    landing_assistant_excluded: "Conversations with the AI assistant are not used.",
    landing_from: "Training from",
    landing_deadline: "Object before the first training by",
    landing_remaining: "Time left",
    landing_after_deadline: "The deadline has passed. An objection still applies to all future training data.",
    landing_cta: "Object now",
    login_title: "Log in",
    username: "Username",
    password: "Password",
    login_button: "Log in",
    login_failed: "Wrong username or password.",
    login_limited: "Too many failed logins from this connection or for this account. Please try again in {minutes} minutes.",
    object_title: "Objection to use for AI training (GDPR Art. 21)",
    object_intro: "An objection covers every account in your Accounts Center unless you choose otherwise. No reason is needed.",
    scope_label: "Scope",
    scope_all: "All accounts in this Accounts Center",
    scope_facebook: "Facebook only",
    scope_instagram: "Instagram only",
    scope_whatsapp: "WhatsApp only",
    reason_label: "Reason (optional)",
    email_label: "Receipt to",
    object_button: "File objection",
    receipt_title: "Receipt: your objection was received",
    receipt_withdrawn_title: "Receipt: your objection was withdrawn",
    receipt_id: "Objection no.",
    receipt_person: "Person",
    receipt_scope: "Scope",
    receipt_filed: "Received",
    receipt_withdrawn: "Withdrawn",
    receipt_deadline: "Before the deadline",
    yes_before: "yes",
    no_after: "no",
    receipt_signature: "Signature (Ed25519)",
    receipt_download: "Download the receipt as JSON",
    receipt_print: "To print, use your browser's print function.",
    withdraw_button: "Withdraw objection",
    meaning_before: "Your objection arrived before the first training: your content is never used for training.",
    meaning_after: "Your objection arrived after the deadline: all future training data excludes your content.",
    meaning_keep: "Under this policy the operator keeps models already trained.",
    meaning_unlearn: "Models already trained are retrained without your data (exact unlearning).",
    meaning_withdrawn: "The objection no longer applies: future training data may again include your public content.",
    verify_title: "Verify a receipt",
    verify_intro: "Paste the JSON receipt. Its signature is checked against this installation's published key.",
    verify_button: "Verify",
    verify_ok: "The receipt is genuine and unchanged.",
    verify_bad: "The receipt is not valid",
    public_key: "Public key",
    mydata_title: "My data",
    mydata_objections: "Your objections",
    mydata_none: "none",
    mydata_snapshots: "Training data snapshots",
    mydata_included: "included",
    mydata_excluded: "excluded",
    mydata_not_in_export: "no content in this snapshot",
    mydata_items: "Show individual items",
    mydata_by_kind: "by kind",
    mydata_by_platform: "by service",
    nonuser_title: "Object without an account",
    nonuser_intro: "No account, but you appear in other people's content? Give your email address and the names or @usernames you are known by. You will get a confirmation link.",
    known_as_label: "Names and @usernames (one per line)",
    nonuser_button: "Send objection",
    nonuser_sent: "Thank you. Please confirm the objection with the link in the email.",
    nonuser_verified: "Your objection is confirmed. Mentions of these names are removed from training data.",
    nonuser_invalid: "This link is invalid or was already used.",
    operator_title: "Operations: objections and training data",
    per_day: "Objections per day",
    by_scope: "By scope",
    by_channel: "By channel",
    before_after: "Before / after the deadline",
    snapshots: "Training data snapshots",
    csv: "Export as CSV",
    receipt_mail_subject: "veto: receipt for your objection",
    receipt_mail_withdrawn_subject: "veto: receipt for the withdrawal of your objection",
    receipt_mail_intro: "Your objection to the use of your data for AI training was received.",
    receipt_mail_withdrawn_intro: "You withdrew your objection to the use of your data for AI training.",
    receipt_mail_link: "The receipt in the portal:",
    receipt_mail_json: "The signed receipt (JSON; check it under \"Verify a receipt\"):",
    nonuser_confirm_intro: "Please confirm your objection with the button. It takes effect only then.",
    nonuser_confirm_button: "Confirm objection",
    nonuser_too_many: "Several confirmation mails already went to this address recently. Please use the link in one of them, or try again later.",
    skip_link: "Skip to content",
    nav_label: "Main menu",
    late_title: "What happens to data already trained on",
    late_keep: "An objection before the deadline keeps your content out of all training. A later objection only applies to future training: models already trained keep your data.",
    late_unlearn: "An objection before the deadline keeps your content out of all training. A later objection still works: your data is removed from models already trained within one month (they are retrained without it).",
    countdown_format: "{d} d {h} h {m} min",
    withdraw_confirm_title: "Withdraw your objection?",
    withdraw_confirm_intro: "If you withdraw the objection, future training data may again include your public content. You can object again at any time.",
    withdraw_confirm_label: "Yes, I want to withdraw this objection.",
    withdraw_confirm_missing: "Please confirm the withdrawal by ticking the box.",
    withdraw_keep: "No, back to the receipt",
    mydata_col_snapshot: "Snapshot",
    mydata_col_as_of: "Cut-off",
    mydata_col_details: "Details",
    mydata_by_reason: "reasons",
    operator_col_policy: "Policy",
    operator_col_count: "Count",
    operator_col_category: "Category",
    verify_label: "Receipt (JSON)",
    verify_bad_format: "This is not a complete receipt in the expected format. Please paste the whole JSON text unchanged.",
    verify_bad_signature: "The signature does not match: the receipt was changed or does not come from this installation.",
    email_field: "Email address",
    nonuser_missing: "Please give an email address and at least one name or @username.",
    error_title: "That did not work",
    error_bad_request: "The request is incomplete or invalid. Please go back and check what you entered.",
    error_unauthorized: "Please log in.",
    error_forbidden: "This is not allowed. If you sent a form: reload the page and try again.",
    error_not_found: "This page does not exist.",
    error_too_many: "Too many requests. Please wait a moment and try again.",
    error_internal: "An error on our side. Please try again later.",
    error_home: "To the home page",
};

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
