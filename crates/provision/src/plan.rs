//! A run's plan and `--resume`: the journal records every user and the
//! options that shape the result before the run's first side effect
//! ([`crate::journal::JournalEvent::Planned`]), so that a resume needs
//! nothing but the journal. A resume that names users or options again must
//! agree with the plan; options it leaves out are the plan's.

use crate::journal::{Plan, PlanOptions, PlannedUser};
use crate::pin::PinAlphabet;
use crate::users::UserJob;

/// The jobs of a plan, in order.
pub fn jobs(plan: &Plan) -> Vec<UserJob> {
    plan.users
        .iter()
        .map(|u| UserJob {
            user: u.user.clone(),
            display_name: u.display_name.clone(),
            pin_length: u.pin_length,
        })
        .collect()
}

/// Planned users from jobs, each labelled with where it came from
/// (`from(i)` for the i-th job).
pub fn planned(users: &[UserJob], from: impl Fn(usize) -> String) -> Vec<PlannedUser> {
    users
        .iter()
        .enumerate()
        .map(|(i, u)| PlannedUser {
            user: u.user.clone(),
            display_name: u.display_name.clone(),
            pin_length: u.pin_length,
            from: from(i),
        })
        .collect()
}

/// Why the users of a resume's `source` disagree with the plan, if they do.
pub fn users_disagree(plan: &Plan, users: &[UserJob], source: &str) -> Option<String> {
    let planned = jobs(plan);
    let head = format!(
        "{source} disagrees with the journal's plan ({} user(s) from {})",
        planned.len(),
        plan.source
    );
    for (i, (p, u)) in planned.iter().zip(users).enumerate() {
        if !p.user.eq_ignore_ascii_case(&u.user) {
            return Some(format!(
                "{head}: user {} is {} there and {} here",
                i + 1,
                p.user,
                u.user
            ));
        }
        if p.display_name != u.display_name || p.pin_length != u.pin_length {
            return Some(format!(
                "{head}: {}'s passkey name or PIN length differs",
                p.user
            ));
        }
    }
    if planned.len() != users.len() {
        return Some(format!("{head}: it gives {} user(s)", users.len()));
    }
    None
}

/// The options a resume runs with: the plan's, after checking that every
/// option the resume set away from its default agrees with them.
/// `given` are the resume's options, `default` what they are when left
/// out.
pub fn adopt_options(
    plan: &PlanOptions,
    given: &PlanOptions,
    default: &PlanOptions,
) -> Result<PlanOptions, String> {
    fn differs<T: PartialEq + std::fmt::Debug>(
        name: &str,
        planned: &T,
        given: &T,
        default: &T,
    ) -> Result<(), String> {
        if given != default && given != planned {
            return Err(format!(
                "{name} is {given:?} here but {planned:?} in the journal's run: leave it out to continue with the run's value"
            ));
        }
        Ok(())
    }
    if plan.directory != given.directory {
        return Err(format!(
            "the journal's run provisions against {} but this one against {}",
            plan.directory, given.directory
        ));
    }
    differs(
        "--pin-length",
        &plan.pin_length,
        &given.pin_length,
        &default.pin_length,
    )?;
    differs::<PinAlphabet>(
        "--pin-alphabet",
        &plan.pin_alphabet,
        &given.pin_alphabet,
        &default.pin_alphabet,
    )?;
    differs(
        "--min-pin-length",
        &plan.min_pin_length,
        &given.min_pin_length,
        &default.min_pin_length,
    )?;
    differs(
        "--force-pin-change",
        &plan.force_pin_change,
        &given.force_pin_change,
        &default.force_pin_change,
    )?;
    differs(
        "--min-pin-length-rp-id",
        &plan.min_pin_length_rp_ids,
        &given.min_pin_length_rp_ids,
        &default.min_pin_length_rp_ids,
    )?;
    differs(
        "--require-pin-policy",
        &plan.require_pin_policy,
        &given.require_pin_policy,
        &default.require_pin_policy,
    )?;
    Ok(plan.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> PlanOptions {
        PlanOptions {
            directory: "http://d/beta".into(),
            pin_length: 6,
            pin_alphabet: PinAlphabet::Digits,
            min_pin_length: None,
            force_pin_change: false,
            min_pin_length_rp_ids: vec![],
            require_pin_policy: true,
        }
    }

    fn job(u: &str) -> UserJob {
        UserJob {
            user: u.into(),
            display_name: None,
            pin_length: None,
        }
    }

    #[test]
    fn options_left_out_are_the_plans_and_given_ones_must_agree() {
        let default = options();
        let plan = PlanOptions {
            force_pin_change: true,
            min_pin_length: Some(8),
            ..options()
        };
        // The README's resume line gives none of them: the plan's win.
        assert_eq!(adopt_options(&plan, &default, &default).unwrap(), plan);
        // Given and equal: fine.
        assert_eq!(adopt_options(&plan, &plan, &default).unwrap(), plan);
        // Given and different: refused, naming the option.
        let other = PlanOptions {
            min_pin_length: Some(10),
            ..options()
        };
        let e = adopt_options(&plan, &other, &default).unwrap_err();
        assert!(e.contains("--min-pin-length"), "{e}");
        let elsewhere = PlanOptions {
            directory: "http://e/beta".into(),
            ..options()
        };
        assert!(adopt_options(&plan, &elsewhere, &default)
            .unwrap_err()
            .contains("http://e/beta"));
    }

    #[test]
    fn a_user_source_must_match_the_plan() {
        let users = vec![job("a@x"), job("b@x"), job("c@x")];
        let plan = Plan {
            source: "csv users.csv".into(),
            users: planned(&users, |i| format!("users.csv entry {}", i + 1)),
            options: options(),
        };
        assert_eq!(jobs(&plan), users);
        assert!(users_disagree(&plan, &users, "--csv users.csv").is_none());
        let fewer = &users[..2];
        let e = users_disagree(&plan, fewer, "--csv users.csv").unwrap();
        assert!(
            e.contains("gives 2 user(s)") && e.contains("3 user(s)"),
            "{e}"
        );
        let swapped = vec![job("a@x"), job("c@x"), job("b@x")];
        let e = users_disagree(&plan, &swapped, "--csv other.csv").unwrap();
        assert!(e.contains("user 2 is b@x there and c@x here"), "{e}");
    }
}
