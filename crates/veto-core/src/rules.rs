//! The eligibility decision. This is the only place veto decides whether an
//! item may be used for training; every build path, the lookup and the portal
//! call [`evaluate`].

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::model::{Audience, Kind, Objection, Platform, Reason};
use crate::policy::{AssistantChats, Policy};
use crate::usage::Usage;

/// What the rules need to know about an item.
#[derive(Clone, Copy, Debug)]
pub struct ItemFacts {
    pub platform: Platform,
    pub kind: Kind,
    pub audience: Audience,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// The creator's machine-readable preference (export v1.1 `usage`).
    pub usage: Usage,
}

/// What the rules need to know about a person an item tags or depicts
/// (export v1.1 `tagged`).
#[derive(Clone, Copy, Debug)]
pub struct TaggedFacts<'a> {
    pub birth_date: Option<NaiveDate>,
    /// Their objections on file (any order).
    pub objections: &'a [Objection],
}

/// Kinds that show the people they tag: a photo of an objector is theirs
/// too, a comment naming them is not (its text is redacted instead).
pub const DEPICTING: [Kind; 5] = [Kind::Photo, Kind::Video, Kind::Reel, Kind::Story, Kind::ProfilePicture];

/// What the rules need to know about the item's author.
#[derive(Clone, Copy, Debug)]
pub struct PersonFacts<'a> {
    pub birth_date: Option<NaiveDate>,
    /// ISO 3166-1 alpha-2, if known.
    pub country: Option<&'a str>,
}

/// Decides whether an item may be used in a build with as-of time `as_of`.
///
/// Returns `Ok(())` if every rule passes, otherwise the reason of the FIRST
/// rule that fails, in this order: not_yet_created, deleted, out_of_scope,
/// not_public, age_unknown/minor, out_of_region, objection, tagged_minor,
/// tagged_objector, creator_opt_out.
/// `objections` are the author's objections on file (any order). An item
/// that tags nobody: [`evaluate_tagged`] with no tagged persons.
pub fn evaluate(
    policy: &Policy,
    as_of: DateTime<Utc>,
    item: &ItemFacts,
    person: &PersonFacts<'_>,
    objections: &[Objection],
) -> Result<(), Reason> {
    evaluate_tagged(policy, as_of, item, person, objections, &[])
}

/// [`evaluate`] for an item that tags the persons `tagged`.
pub fn evaluate_tagged(
    policy: &Policy,
    as_of: DateTime<Utc>,
    item: &ItemFacts,
    person: &PersonFacts<'_>,
    objections: &[Objection],
    tagged: &[TaggedFacts<'_>],
) -> Result<(), Reason> {
    if item.created_at > as_of {
        return Err(Reason::NotYetCreated);
    }
    if item.deleted_at.is_some_and(|d| d <= as_of) {
        return Err(Reason::Deleted);
    }
    if !policy.admits(item.platform, item.kind) {
        return Err(Reason::OutOfScope);
    }
    let audience_ok = match item.audience {
        Audience::Public => true,
        Audience::Assistant => policy.assistant_chats == AssistantChats::Train,
        Audience::Friends | Audience::OnlyMe | Audience::E2e => false,
    };
    if !audience_ok {
        return Err(Reason::NotPublic);
    }
    let Some(birth) = person.birth_date else {
        return Err(Reason::AgeUnknown);
    };
    if age_on(birth, item.created_at.date_naive()) < policy.min_age as i32 {
        return Err(Reason::Minor);
    }
    if !policy.regions.is_empty() && !person.country.is_some_and(|c| policy.regions.contains(c)) {
        return Err(Reason::OutOfRegion);
    }
    if objection_applies(objections, item.platform, as_of) {
        return Err(Reason::Objection);
    }
    // An adult's public photo of a child is still a child's photo; a tagged
    // person whose age is unknown counts as a child.
    let created = item.created_at.date_naive();
    if tagged
        .iter()
        .any(|t| t.birth_date.is_none_or(|b| age_on(b, created) < policy.min_age as i32))
    {
        return Err(Reason::TaggedMinor);
    }
    if DEPICTING.contains(&item.kind)
        && tagged
            .iter()
            .any(|t| objection_applies(t.objections, item.platform, as_of))
    {
        return Err(Reason::TaggedObjector);
    }
    if item.usage.disallows_training() {
        return Err(Reason::CreatorOptOut);
    }
    Ok(())
}

/// Rule 7 on its own: whether any of the author's objections covers content
/// on `platform` and is in force at `at`. The build applies it at the build's
/// as-of time; unlearning applies it at the time of unlearning.
pub fn objection_applies(objections: &[Objection], platform: Platform, at: DateTime<Utc>) -> bool {
    objections.iter().any(|o| o.scope.covers(platform) && o.in_force_at(at))
}

/// Whether objection `o` can make [`objection_applies`] true at some time
/// after `as_of` for an item that a build at `as_of` included: only if it
/// was filed after `as_of`. (One filed by then was either in force at
/// `as_of`, and the build excluded what it covers, or withdrawn by then,
/// and never in force again.) Unlearning reads the data of only the persons
/// with such an objection, so its cost follows the late objectors, not all
/// objectors.
pub fn may_apply_after(o: &Objection, as_of: DateTime<Utc>) -> bool {
    o.filed_at > as_of
}

/// Age in whole years on `date` of someone born on `birth`. A person is N
/// years old from their Nth birthday on; someone born on 29 February has their
/// birthday on 1 March in years that are not leap years.
pub fn age_on(birth: NaiveDate, date: NaiveDate) -> i32 {
    let years = date.year() - birth.year();
    let birthday_this_year = NaiveDate::from_ymd_opt(date.year(), birth.month(), birth.day())
        .unwrap_or_else(|| NaiveDate::from_ymd_opt(date.year(), 3, 1).expect("1 March exists"));
    if date < birthday_this_year { years - 1 } else { years }
}

#[cfg(test)]
mod tests;
