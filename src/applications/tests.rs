use chrono::TimeZone;
use serde_json::json;

use super::*;

use Action::{Approve, Consult};
use TaskStatus as T;

#[test]
fn the_most_severe_decision_wins() {
    assert_eq!(
        combine(&[(Approve, T::Pending), (Approve, T::Pending)]),
        Status::Received
    );
    assert_eq!(
        combine(&[(Approve, T::Approved), (Approve, T::Pending)]),
        Status::InProgress
    );
    assert_eq!(
        combine(&[(Approve, T::Approved), (Approve, T::Approved)]),
        Status::Approved
    );
    assert_eq!(
        combine(&[(Approve, T::ApprovedWithComments), (Approve, T::Approved)]),
        Status::ApprovedWithComments
    );
    assert_eq!(
        combine(&[
            (Approve, T::RevisionRequired),
            (Approve, T::ApprovedWithComments)
        ]),
        Status::RevisionRequired
    );
    assert_eq!(
        combine(&[(Approve, T::RevisionRequired), (Approve, T::Rejected)]),
        Status::Rejected,
        "a rejection outweighs a revision, even with other tasks pending"
    );
    assert_eq!(
        combine(&[(Approve, T::Rejected), (Approve, T::Pending)]),
        Status::Rejected
    );
}

#[test]
fn a_consultation_is_heard_but_does_not_hold_the_application_up() {
    assert_eq!(
        combine(&[(Approve, T::Approved), (Consult, T::Pending)]),
        Status::Approved
    );
    assert_eq!(
        combine(&[(Approve, T::Approved), (Consult, T::Rejected)]),
        Status::ApprovedWithComments
    );
    assert_eq!(
        combine(&[(Approve, T::Pending), (Consult, T::Approved)]),
        Status::InProgress
    );
}

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 2, day, 9, 0, 0).unwrap()
}

fn application(actions: &[(&str, Action)]) -> Application {
    let d = |day| NaiveDate::from_ymd_opt(2027, 2, day).unwrap();
    Application {
        id: 5,
        target: Target::Service("excavation_order".into()),
        status: Status::Received,
        submitted: d(1),
        due: d(15),
        cadastral: None,
        geometry: MultiPolygon(vec![]),
        plot: json!({}),
        applicant: json!({}),
        description: None,
        catalog_revision: 1,
        route: json!({}),
        revision: 1,
        created_at: at(1),
        updated_at: at(1),
        closed_at: None,
        tasks: actions
            .iter()
            .enumerate()
            .map(|(k, (department, action))| Task {
                id: k as TaskNo + 1,
                service: "excavation_order".into(),
                department: (*department).into(),
                action: *action,
                start: d(1),
                due: d(15),
                status: T::Pending,
                comment: None,
                decided_at: None,
                reasons: json!([]),
            })
            .collect(),
        history: Vec::new(),
    }
}

/// Applies a change as a store would.
fn apply(a: &mut Application, c: &DecisionChange) {
    let task = a.tasks.iter_mut().find(|t| t.id == c.task).unwrap();
    task.status = c.task_status;
    task.comment.clone_from(&c.comment);
    for t in &mut a.tasks {
        if c.cancelled.contains(&t.id) {
            t.status = T::Cancelled;
        }
    }
    a.status = c.status;
    a.closed_at = c.closed_at;
    a.revision += 1;
    a.history.extend(c.history.iter().cloned());
}

#[test]
fn decisions_move_the_application_and_closing_cancels_what_is_left() {
    let mut a = application(&[("KVB", Approve), ("GAS", Approve), ("FISHERIES", Consult)]);
    let c = a.decide(1, Decision::Approved, None, at(2)).unwrap();
    assert_eq!((c.status, c.expected_revision), (Status::InProgress, 1));
    apply(&mut a, &c);

    let c = a
        .decide(
            2,
            Decision::RevisionRequired,
            Some("move the trench 2 m".into()),
            at(3),
        )
        .unwrap();
    assert_eq!(c.status, Status::RevisionRequired);
    apply(&mut a, &c);
    // A task waiting for revision takes a new decision.
    let c = a.decide(2, Decision::Approved, None, at(4)).unwrap();
    assert_eq!(
        c.status,
        Status::Approved,
        "the consultation does not hold it up"
    );
    assert_eq!(c.cancelled, [3]);
    assert_eq!(c.closed_at, Some(at(4)));
    apply(&mut a, &c);

    assert!(matches!(
        a.decide(3, Decision::Approved, None, at(5)),
        Err(ApplicationError::ApplicationClosed { .. })
    ));
    assert!(matches!(
        a.decide(9, Decision::Approved, None, at(5)),
        Err(ApplicationError::UnknownTask(5, 9))
    ));
}

#[test]
fn a_decided_task_is_closed_and_reasons_are_required() {
    let mut a = application(&[("KVB", Approve), ("GAS", Approve)]);
    assert!(matches!(
        a.decide(1, Decision::Rejected, Some("   ".into()), at(2)),
        Err(ApplicationError::CommentRequired(Decision::Rejected))
    ));
    let c = a.decide(1, Decision::Approved, None, at(2)).unwrap();
    apply(&mut a, &c);
    assert!(matches!(
        a.decide(
            1,
            Decision::Rejected,
            Some("changed our mind".into()),
            at(3)
        ),
        Err(ApplicationError::TaskClosed {
            task: 1,
            status: T::Approved,
            ..
        })
    ));
    let c = a
        .decide(
            2,
            Decision::Rejected,
            Some("the pipe runs there".into()),
            at(3),
        )
        .unwrap();
    assert_eq!(c.status, Status::Rejected);
    assert!(c.cancelled.is_empty());
}

#[test]
fn overdue_means_open_and_past_due() {
    let mut a = application(&[("KVB", Approve)]);
    let day = |d| NaiveDate::from_ymd_opt(2027, 2, d).unwrap();
    assert!(!a.is_overdue(day(15)));
    assert!(a.is_overdue(day(16)));
    a.status = Status::Approved;
    a.tasks[0].status = T::Approved;
    assert!(!a.is_overdue(day(16)));
}

#[test]
fn statistics_count_per_service_and_department() {
    let day = |d| NaiveDate::from_ymd_opt(2027, 2, d).unwrap();
    let mut done = application(&[("KVB", Approve), ("GAS", Approve)]);
    for (task, when) in [(1, 3), (2, 5)] {
        let c = done
            .decide(task, Decision::Approved, None, at(when))
            .unwrap();
        apply(&mut done, &c);
        done.tasks[task as usize - 1].decided_at = Some(at(when));
    }
    let open = application(&[("KVB", Approve)]);
    let s = stats(&[done, open], day(20));
    assert_eq!(s.total.received, 2);
    assert_eq!(
        (s.total.accepted, s.total.in_progress, s.total.overdue),
        (1, 1, 1)
    );
    assert_eq!(
        s.total.median_days,
        Some(4.0),
        "closed on 5 February, submitted on the 1st"
    );
    let kvb = &s.by_department["KVB"];
    assert_eq!(
        (kvb.received, kvb.accepted, kvb.in_progress, kvb.overdue),
        (2, 1, 1, 1)
    );
    assert_eq!(kvb.median_days, Some(2.0));
    assert_eq!(s.by_service["service:excavation_order"].received, 2);
}
