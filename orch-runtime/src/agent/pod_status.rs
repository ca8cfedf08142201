//! The Pod status the node agent reports, as plain functions of what it
//! observed: each container's state from its attempts in the runtime, the
//! Pod's phase from its containers and `restartPolicy`, and its conditions
//! (kubelet's `getPhase` and `generateAPIPodStatus`). The worker gathers the
//! observations and writes the result; these functions do no I/O and read
//! no clock, so they are tested as tables.

use orch_core::condition::{find_condition, set_condition, status_str};
use orch_core::kinds::pod::{
    ContainerState as PodContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus as PodContainerStatus, PodCondition, PodPhase,
    RestartPolicy,
};
use orch_core::Time;

use crate::runtime::{ContainerState, ContainerStatus};

/// What the agent knows of one container besides its attempts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ContainerObservation<'a> {
    /// The container's name in the Pod.
    pub name: &'a str,
    /// Its image, as the spec names it.
    pub image: &'a str,
    /// Why it waits instead of running, when the agent holds it back
    /// (`CrashLoopBackOff`, `ErrImagePull`, `CreateContainerConfigError`),
    /// with a message.
    pub waiting: Option<(String, String)>,
    /// The startup probe has passed on the latest attempt (true when the
    /// container has none).
    pub startup_passed: bool,
    /// The readiness probe has passed on the latest attempt (true when the
    /// container has none).
    pub readiness_passed: bool,
    /// The runtime's name for container IDs (`containerd`, `process`), as in
    /// `containerd://<id>`.
    pub id_scheme: &'a str,
}

fn ns_to_time(ns: i64) -> Option<Time> {
    (ns > 0).then(|| Time::from(chrono::DateTime::from_timestamp_nanos(ns)))
}

fn terminated(s: &ContainerStatus, id_scheme: &str) -> PodContainerState {
    PodContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: s.exit_code,
            signal: None,
            reason: Some(if s.reason.is_empty() { "Error".into() } else { s.reason.clone() }),
            message: (!s.message.is_empty()).then(|| s.message.clone()),
            started_at: ns_to_time(s.started_at),
            finished_at: ns_to_time(s.finished_at),
            container_id: Some(format!("{id_scheme}://{}", s.id)),
        }),
        ..Default::default()
    }
}

fn waiting(reason: &str, message: Option<&str>) -> PodContainerState {
    PodContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message: message.map(str::to_owned),
        }),
        ..Default::default()
    }
}

/// A container's status (core/v1 `ContainerStatus`) from its `attempts`
/// in the runtime, newest first.
///
/// * Running with no hold-back: `running`; `started` once the startup probe
///   passed; `ready` once the startup and readiness probes passed.
/// * Exited with no hold-back: `terminated` (reason `Error` when the
///   runtime gives none).
/// * Held back: `waiting` with the agent's reason; the exited attempt it
///   waits to restart is the `lastState`.
/// * No attempt yet: `waiting` / `ContainerCreating`.
///
/// `restartCount` is the latest attempt's number; `lastState` is the
/// previous attempt when it exited.
pub(crate) fn container_status(
    c: &ContainerObservation<'_>,
    attempts: &[ContainerStatus],
) -> PodContainerStatus {
    let latest = attempts.first();
    let (state, ready, started) = match (latest, &c.waiting) {
        (Some(l), None) if l.state == ContainerState::Running => {
            let running = PodContainerState {
                running: Some(ContainerStateRunning { started_at: ns_to_time(l.started_at) }),
                ..Default::default()
            };
            (running, c.startup_passed && c.readiness_passed, c.startup_passed)
        }
        (Some(l), None) if l.state == ContainerState::Exited => {
            (terminated(l, c.id_scheme), false, false)
        }
        (_, Some((reason, message))) => (waiting(reason, Some(message)), false, false),
        _ => (waiting("ContainerCreating", None), false, false),
    };
    // The previous attempt, or the exited latest while it waits to restart.
    let last = match (&c.waiting, latest) {
        (Some(_), Some(l)) if l.state == ContainerState::Exited => Some(l),
        _ => attempts.get(1),
    }
    .filter(|p| p.state == ContainerState::Exited)
    .map(|p| terminated(p, c.id_scheme));
    PodContainerStatus {
        name: c.name.to_owned(),
        state: Some(state),
        last_state: last,
        ready,
        restart_count: latest.map_or(0, |l| l.metadata.attempt as i32),
        image: c.image.to_owned(),
        image_id: c.image.to_owned(),
        container_id: latest.map(|l| format!("{}://{}", c.id_scheme, l.id)),
        started: Some(started),
    }
}

fn terminated_state(s: &PodContainerStatus) -> Option<&ContainerStateTerminated> {
    s.state.as_ref().and_then(|st| st.terminated.as_ref())
}

/// The Pod's phase, as kubelet's `getPhase` decides it:
///
/// * an init container failed and `restartPolicy` is `Never` → `Failed`;
/// * init containers not all done → `Pending`;
/// * every container terminated and the policy is not `Always` → `Failed`
///   if one failed and the policy is `Never`, `Running` if one failed and
///   it is `OnFailure` (it will be restarted), else `Succeeded`;
/// * a container running, restarting, or all terminated under `Always`
///   → `Running`;
/// * otherwise (containers still being created) → `Pending`.
pub(crate) fn pod_phase(
    policy: RestartPolicy,
    init: &[PodContainerStatus],
    containers: &[PodContainerStatus],
    initialized: bool,
) -> PodPhase {
    let init_failed = policy == RestartPolicy::Never
        && init.iter().filter_map(terminated_state).any(|t| t.exit_code != 0);
    let terminated: Vec<&ContainerStateTerminated> =
        containers.iter().filter_map(terminated_state).collect();
    let all_terminated = !containers.is_empty() && terminated.len() == containers.len();
    let running =
        containers.iter().any(|s| s.state.as_ref().is_some_and(|st| st.running.is_some()));
    let restarting = containers
        .iter()
        .any(|s| s.restart_count > 0 && s.state.as_ref().is_some_and(|st| st.waiting.is_some()));
    if init_failed {
        PodPhase::Failed
    } else if !initialized {
        PodPhase::Pending
    } else if all_terminated && policy != RestartPolicy::Always {
        let failed = terminated.iter().any(|t| t.exit_code != 0);
        match (failed, policy) {
            (true, RestartPolicy::OnFailure) => PodPhase::Running,
            (true, _) => PodPhase::Failed,
            (false, _) => PodPhase::Succeeded,
        }
    } else if running || restarting || all_terminated {
        PodPhase::Running
    } else {
        PodPhase::Pending
    }
}

/// The Pod's conditions after `previous`: `PodScheduled` kept as the
/// scheduler wrote it (True if there is none, the agent has the Pod),
/// `Initialized`, and `ContainersReady` and `Ready` (every container ready
/// and the init containers done). A condition whose status did not change
/// keeps its `lastTransitionTime`; others get `now`.
pub(crate) fn pod_conditions(
    previous: &[PodCondition],
    initialized: bool,
    containers: &[PodContainerStatus],
    now: Time,
) -> Vec<PodCondition> {
    let ready = initialized && !containers.is_empty() && containers.iter().all(|s| s.ready);
    let condition = |type_: &str, value: bool| PodCondition {
        type_: type_.to_owned(),
        status: status_str(value).to_owned(),
        ..Default::default()
    };
    let mut conditions = Vec::new();
    match find_condition(previous, "PodScheduled") {
        Some(scheduled) => conditions.push(scheduled.clone()),
        None => {
            set_condition(&mut conditions, condition("PodScheduled", true), now);
        }
    }
    for (type_, value) in
        [("Initialized", initialized), ("ContainersReady", ready), ("Ready", ready)]
    {
        // Start from the previous condition of this type, so that its
        // transition time is kept when its status did not change.
        conditions.extend(find_condition(previous, type_).cloned());
        set_condition(&mut conditions, condition(type_, value), now);
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ContainerMetadata, ImageSpec};

    fn at(seconds: i64) -> Time {
        Time(chrono::DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap())
    }

    fn attempt(state: ContainerState, exit_code: i32, n: u32) -> ContainerStatus {
        let started_at = if state == ContainerState::Created { 0 } else { 1_000_000_000 };
        ContainerStatus {
            id: format!("c{n}"),
            metadata: ContainerMetadata { name: "app".into(), attempt: n },
            state,
            created_at: 1,
            started_at,
            finished_at: if state == ContainerState::Exited { 2_000_000_000 } else { 0 },
            exit_code,
            image: ImageSpec { image: "busybox".into() },
            reason: String::new(),
            message: String::new(),
            labels: Default::default(),
            annotations: Default::default(),
            log_path: String::new(),
        }
    }

    fn observed(
        waiting: Option<&str>,
        startup: bool,
        readiness: bool,
    ) -> ContainerObservation<'static> {
        ContainerObservation {
            name: "app",
            image: "busybox",
            waiting: waiting.map(|r| (r.to_owned(), format!("{r} detail"))),
            startup_passed: startup,
            readiness_passed: readiness,
            id_scheme: "process",
        }
    }

    use ContainerState::{Created, Exited, Running};

    /// What a container's status should show: (state, reason, ready,
    /// started, restartCount, lastState's exit code).
    type Shown = (&'static str, Option<&'static str>, bool, bool, i32, Option<i32>);

    /// (name, hold-back reason, startup passed, readiness passed, attempts
    /// newest first, what is shown)
    type ContainerCase =
        (&'static str, Option<&'static str>, bool, bool, Vec<ContainerStatus>, Shown);

    #[test]
    fn container_states() {
        let creating = Some("ContainerCreating");
        #[rustfmt::skip]
        let cases: Vec<ContainerCase> = vec![
            ("no attempt yet", None, true, true, vec![],
                ("waiting", creating, false, false, 0, None)),
            ("created, not started", None, true, true, vec![attempt(Created, 0, 0)],
                ("waiting", creating, false, false, 0, None)),
            ("running without probes is ready", None, true, true, vec![attempt(Running, 0, 0)],
                ("running", None, true, true, 0, None)),
            ("running, readiness not yet passed", None, true, false, vec![attempt(Running, 0, 0)],
                ("running", None, false, true, 0, None)),
            ("running, startup not yet passed: neither started nor ready", None, false, true,
                vec![attempt(Running, 0, 0)], ("running", None, false, false, 0, None)),
            ("exited without a runtime reason is Error", None, true, true, vec![attempt(Exited, 3, 0)],
                ("terminated", Some("Error"), false, false, 0, None)),
            ("CrashLoopBackOff: waiting, the exited attempt is lastState", Some("CrashLoopBackOff"), true, true,
                vec![attempt(Exited, 1, 2), attempt(Exited, 1, 1)],
                ("waiting", Some("CrashLoopBackOff"), false, false, 2, Some(1))),
            ("restarted and running: the previous attempt is lastState", None, true, true,
                vec![attempt(Running, 0, 1), attempt(Exited, 137, 0)],
                ("running", None, true, true, 1, Some(137))),
        ];
        for (name, waiting, startup, readiness, attempts, want) in cases {
            let s = container_status(&observed(waiting, startup, readiness), &attempts);
            let st = s.state.as_ref().unwrap();
            let (state, reason) = match (&st.waiting, &st.running, &st.terminated) {
                (Some(w), _, _) => ("waiting", w.reason.as_deref()),
                (_, Some(_), _) => ("running", None),
                (_, _, Some(t)) => ("terminated", t.reason.as_deref()),
                _ => ("none", None),
            };
            let last_exit =
                s.last_state.as_ref().and_then(|l| l.terminated.as_ref()).map(|t| t.exit_code);
            let shown =
                (state, reason, s.ready, s.started == Some(true), s.restart_count, last_exit);
            assert_eq!(shown, want, "{name}");
            if let Some(l) = attempts.first() {
                assert_eq!(s.container_id, Some(format!("process://{}", l.id)), "{name}");
            }
        }
    }

    fn status(state: &str, exit_code: i32, restarts: i32) -> PodContainerStatus {
        let st = match state {
            "running" => PodContainerState {
                running: Some(ContainerStateRunning::default()),
                ..Default::default()
            },
            "terminated" => PodContainerState {
                terminated: Some(ContainerStateTerminated { exit_code, ..Default::default() }),
                ..Default::default()
            },
            _ => waiting(state, None),
        };
        PodContainerStatus { state: Some(st), restart_count: restarts, ..Default::default() }
    }

    /// (name, restartPolicy, init statuses, statuses, initialized, phase)
    type PhaseCase = (
        &'static str,
        RestartPolicy,
        Vec<PodContainerStatus>,
        Vec<PodContainerStatus>,
        bool,
        PodPhase,
    );

    #[test]
    fn phases() {
        use PodPhase::*;
        use RestartPolicy::{Always, Never, OnFailure};
        let ok = || status("terminated", 0, 0);
        let failed = || status("terminated", 1, 0);
        let running = || status("running", 0, 0);
        let creating = || status("ContainerCreating", 0, 0);
        let backoff = || status("CrashLoopBackOff", 0, 3);
        #[rustfmt::skip]
        let cases: Vec<PhaseCase> = vec![
            ("Never, a failed container", Never, vec![], vec![failed()], true, Failed),
            ("Never, one failed, one succeeded", Never, vec![], vec![failed(), ok()], true, Failed),
            ("Never, all succeeded", Never, vec![], vec![ok(), ok()], true, Succeeded),
            ("Never, one failed, one still running", Never, vec![], vec![failed(), running()], true, Running),
            ("OnFailure, a failed container is restarted", OnFailure, vec![], vec![failed()], true, Running),
            ("OnFailure, all succeeded", OnFailure, vec![], vec![ok()], true, Succeeded),
            ("Always, exited containers restart", Always, vec![], vec![ok()], true, Running),
            ("Always, in CrashLoopBackOff", Always, vec![], vec![backoff()], true, Running),
            ("Always, running", Always, vec![], vec![running()], true, Running),
            ("containers being created", Always, vec![], vec![creating()], true, Pending),
            ("init containers not done", Always, vec![running()], vec![creating()], false, Pending),
            ("Never, an init container failed", Never, vec![failed()], vec![creating()], false, Failed),
            ("OnFailure, a failed init container is retried", OnFailure, vec![failed()], vec![creating()], false, Pending),
            ("Always, a failed init container is retried", Always, vec![failed()], vec![creating()], false, Pending),
        ];
        for (name, policy, init, containers, initialized, want) in cases {
            assert_eq!(pod_phase(policy, &init, &containers, initialized), want, "{name}");
        }
    }

    fn find<'a>(cs: &'a [PodCondition], t: &str) -> &'a PodCondition {
        find_condition(cs, t).unwrap_or_else(|| panic!("no {t} condition"))
    }

    #[test]
    fn conditions_are_ready_only_when_every_container_is_ready_and_init_done() {
        let ready = PodContainerStatus { ready: true, ..Default::default() };
        let not_ready = PodContainerStatus::default();
        let cases = [
            ("all ready", true, vec![ready.clone(), ready.clone()], "True"),
            ("one not ready", true, vec![ready.clone(), not_ready.clone()], "False"),
            ("init not done", false, vec![ready.clone()], "False"),
            ("no containers", true, vec![], "False"),
        ];
        for (name, initialized, containers, want) in cases {
            let cs = pod_conditions(&[], initialized, &containers, at(0));
            assert_eq!(find(&cs, "Ready").status, want, "{name}: Ready");
            assert_eq!(find(&cs, "ContainersReady").status, want, "{name}: ContainersReady");
            assert_eq!(find(&cs, "Initialized").status, status_str(initialized), "{name}");
            assert_eq!(find(&cs, "PodScheduled").status, "True", "{name}");
            let types: Vec<&str> = cs.iter().map(|c| c.type_.as_str()).collect();
            assert_eq!(
                types,
                ["PodScheduled", "Initialized", "ContainersReady", "Ready"],
                "{name}"
            );
        }
    }

    #[test]
    fn conditions_keep_their_transition_time_and_the_schedulers_condition() {
        let ready = PodContainerStatus { ready: true, ..Default::default() };
        let scheduled = PodCondition {
            type_: "PodScheduled".into(),
            status: "True".into(),
            last_transition_time: Some(at(-10)),
            reason: Some("Scheduled".into()),
            ..Default::default()
        };
        let first = pod_conditions(
            std::slice::from_ref(&scheduled),
            true,
            &[PodContainerStatus::default()],
            at(0),
        );
        assert_eq!(find(&first, "PodScheduled"), &scheduled);
        assert_eq!(find(&first, "Ready").last_transition_time, Some(at(0)));
        // Later, still not ready: the time stays.
        let second = pod_conditions(&first, true, &[PodContainerStatus::default()], at(5));
        assert_eq!(second, first);
        // Ready now: Ready moves, Initialized does not.
        let third = pod_conditions(&second, true, &[ready], at(9));
        assert_eq!(find(&third, "Ready").last_transition_time, Some(at(9)));
        assert_eq!(find(&third, "Initialized").last_transition_time, Some(at(0)));
        assert_eq!(find(&third, "PodScheduled"), &scheduled);
    }
}
