//! A run's plan and `--resume`: the journal records every user and the
//! options that shape the result before the run's first side effect
//! ([`crate::journal::JournalEvent::Planned`]), so that a resume needs
//! nothing but the journal. A resume that names users or options again must
//! agree with the plan; options it leaves out are the plan's.

use crate::error::{Error, Result};
use crate::journal::{JournalState, Plan, PlanOptions, PlannedUser};
use crate::pin::PinAlphabet;
use crate::target::Directory;
use crate::users::{read_csv, UserJob};
use std::path::PathBuf;

/// Where a new run's users come from (`--user`, `--csv` or `--group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSource {
    /// One user, by UPN or object id, with an optional passkey name.
    One {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The passkey's name.
        display_name: Option<String>,
    },
    /// A CSV file of users (see [`read_csv`]).
    Csv(PathBuf),
    /// The members of a directory group, by object id.
    Group(String),
}

/// The users a source gave, with the source as the plan records it and
/// where each user came from (`FILE entry 3`, `group ID`, `--user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedUsers {
    /// The users, in run order.
    pub users: Vec<UserJob>,
    /// Where the users came from.
    pub source: String,
    /// Where each user came from (`users.csv entry 3`), in run order.
    pub origins: Vec<String>,
}

impl UserSource {
    /// Reads the users: the CSV file, or the group's members from the
    /// directory (a group without members is an error: a run of nobody is
    /// a mistake).
    pub fn resolve(&self, directory: &Directory) -> Result<SourcedUsers> {
        match self {
            UserSource::One { user, display_name } => Ok(SourcedUsers {
                users: vec![UserJob {
                    user: user.clone(),
                    display_name: display_name.clone(),
                    pin_length: None,
                }],
                source: "--user".into(),
                origins: vec!["--user".into()],
            }),
            UserSource::Csv(path) => {
                let name = path.display().to_string();
                let users = read_csv(path)?;
                let origins = (1..=users.len())
                    .map(|i| format!("{name} entry {i}"))
                    .collect();
                Ok(SourcedUsers {
                    users,
                    source: format!("--csv {name}"),
                    origins,
                })
            }
            UserSource::Group(group) => {
                let users: Vec<UserJob> = directory
                    .group_members(group)?
                    .into_iter()
                    .map(|m| UserJob {
                        user: m.user_principal_name.unwrap_or(m.id),
                        display_name: None,
                        pin_length: None,
                    })
                    .collect();
                if users.is_empty() {
                    return Err(Error::Input(format!("group {group} has no members")));
                }
                Ok(SourcedUsers {
                    origins: vec![format!("group {group}"); users.len()],
                    users,
                    source: format!("--group {group}"),
                })
            }
        }
    }
}

/// A run as planned before its first side effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The users, in run order.
    pub users: Vec<UserJob>,
    /// What the journal records.
    pub plan: Plan,
    /// The options the run uses: the command line's for a new run, the
    /// journal's for a resume.
    pub options: PlanOptions,
}

/// The options when the command line leaves them out (the flags'
/// defaults), for `directory`.
pub fn default_options(directory: &str) -> PlanOptions {
    PlanOptions {
        directory: directory.to_owned(),
        pin_length: 6,
        pin_alphabet: PinAlphabet::Digits,
        min_pin_length: None,
        force_pin_change: false,
        min_pin_length_rp_ids: Vec::new(),
        require_pin_policy: true,
    }
}

/// Plans a run. A new run takes its users from `given` and its options
/// from `options`. A resume (`resume`: the journal's state and its name
/// for messages) takes both from the journal's plan; users or options
/// given again must agree with it. A journal of an older version holds no
/// plan: then the users must be given again.
pub fn plan_run(
    given: Option<SourcedUsers>,
    options: PlanOptions,
    resume: Option<(&JournalState, &str)>,
) -> Result<Planned> {
    let fresh = |given: Option<SourcedUsers>, options: PlanOptions, missing: String| {
        let Some(g) = given else {
            return Err(Error::Input(missing));
        };
        let plan = Plan {
            source: g.source,
            users: planned(&g.users, |i| g.origins[i].clone()),
            options: options.clone(),
        };
        Ok(Planned {
            users: g.users,
            plan,
            options,
        })
    };
    let Some((state, journal)) = resume else {
        return fresh(
            given,
            options,
            "no users: give --user UPN, --csv FILE or --group ID".into(),
        );
    };
    let Some(plan) = &state.plan else {
        return fresh(
            given,
            options,
            format!(
                "{journal} was written by an older keysmith and holds no plan of the run: give its users again (--csv, --group or --user)"
            ),
        );
    };
    if let Some(g) = &given {
        if let Some(why) = users_disagree(plan, &g.users, &g.source) {
            return Err(Error::Input(why));
        }
    }
    let default = default_options(&options.directory);
    let adopted = adopt_options(&plan.options, &options, &default)
        .map_err(|e| Error::Input(format!("--resume {journal}: {e}")))?;
    Ok(Planned {
        users: jobs(plan),
        plan: plan.clone(),
        options: adopted,
    })
}

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

    /// A new run plans its source's users with their origins; a run of
    /// nobody is refused; a resume takes the journal's users and options
    /// and refuses users given again that differ.
    #[test]
    fn a_run_is_planned_from_its_source_or_its_journal() {
        use crate::target::{TargetConfig, TokenSourceInput};
        let directory = Directory::new(TargetConfig::keysmith(
            "http://127.0.0.1:9",
            "t",
            TokenSourceInput::Bearer("x".into()),
        ));
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("users.csv");
        std::fs::write(&csv, "userPrincipalName\na@x\nb@x\n").unwrap();
        let given = UserSource::Csv(csv.clone()).resolve(&directory).unwrap();
        assert_eq!(given.users, vec![job("a@x"), job("b@x")]);
        let name = csv.display().to_string();
        assert_eq!(given.source, format!("--csv {name}"));
        assert_eq!(given.origins[1], format!("{name} entry 2"));

        let e = plan_run(None, options(), None).unwrap_err();
        assert!(e.to_string().contains("no users"), "{e}");

        let new = plan_run(Some(given.clone()), options(), None).unwrap();
        assert_eq!(new.users, given.users);
        assert_eq!(new.plan.users[0].from, format!("{name} entry 1"));

        let state = JournalState {
            plan: Some(Plan {
                options: PlanOptions {
                    pin_length: 8,
                    ..options()
                },
                ..new.plan.clone()
            }),
            ..JournalState::default()
        };
        let resumed = plan_run(None, options(), Some((&state, "run.journal"))).unwrap();
        assert_eq!(resumed.users, given.users);
        assert_eq!(resumed.options.pin_length, 8, "the journal's options");
        let one = UserSource::One {
            user: "c@x".into(),
            display_name: None,
        }
        .resolve(&directory)
        .unwrap();
        let e = plan_run(Some(one), options(), Some((&state, "run.journal"))).unwrap_err();
        assert!(e.to_string().contains("disagrees with the journal"), "{e}");
        let old = JournalState::default();
        let e = plan_run(None, options(), Some((&old, "old.journal"))).unwrap_err();
        assert!(e.to_string().contains("old.journal"), "{e}");
    }
}
