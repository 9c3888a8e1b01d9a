#!/usr/bin/env bash
# tests/mpi/apex_mpi.sh DQN CASE: Ape-X across processes, under mpirun (registered by
# tests/CMakeLists.txt only in the MPI build). Each case exits non-zero with a message when its
# check fails.
#   lockstep-cartpole  one learner and two actors solve CartPole (seeded, lockstep: the margin is
#                      argued in tests/rl/test_apex.cpp), and a second job gives the same bits
#   async-frames       an asynchronous job on built-in Breakout (frames sent once, stacks rebuilt
#                      by the learner) finishes, every actor's episodes reach the learner's log
#   stop-resume        Ctrl-C (SIGINT to mpirun) saves the job; a job of the wrong size is
#                      refused; `mpirun dqn resume DIR` finishes it
#   rank-dies          an actor killed mid-run ends the job; the output names the rank; the
#                      learner's last checkpoint is intact
set -euo pipefail
dqn="$1"
case_name="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)
fail() { echo "FAIL: $*" >&2; exit 1; }
json_field() {  # json_field FILE TYPE FIELD: FIELD of the last line of TYPE
  python3 -c "
import json, sys
v = None
for line in open(sys.argv[1]):
    j = json.loads(line)
    if j.get('type') == sys.argv[2]: v = j[sys.argv[3]]
print(v)" "$@"
}

case "$case_name" in
  lockstep-cartpole)
    for run in a b; do
      "${mpi[@]}" -np 3 "$dqn" train --distributed --set lockstep=true --seed 1 \
        --out "$work/$run" > "$work/$run.log" 2>&1 || { cat "$work/$run.log"; fail "job $run"; }
    done
    mean="$(json_field "$work/a/metrics.jsonl" summary final_eval_mean)"
    echo "final evaluation: $mean over 100 unseen episodes"
    python3 -c "import sys; sys.exit(0 if float('$mean') >= 475 else 1)" ||
      fail "CartPole not solved: $mean < 475"
    cmp "$work/a/last.dqn" "$work/b/last.dqn" || fail "two lockstep jobs differ"
    cmp "$work/a/model.dqn" "$work/b/model.dqn" || fail "two lockstep jobs differ"
    ;;
  async-frames)
    "${mpi[@]}" -np 4 "$dqn" train --distributed --env mini:breakout --steps 3000 \
      --set learning_starts=500 --set buffer_size=3000 --set envs_per_actor=2 \
      --set actor_send_steps=10 --set eval_interval=0 --set final_eval_episodes=1 \
      --set prioritized_replay=true --set n_step=3 --set log_interval=500 \
      --out "$work/b" > "$work/b.log" 2>&1 || { cat "$work/b.log"; fail "the job failed"; }
    for actor in 1 2 3; do
      grep -q "\"type\":\"episode\".*\"actor\":$actor," "$work/b/metrics.jsonl" ||
        fail "no episode of actor $actor reached the learner's log"
    done
    steps="$(json_field "$work/b/metrics.jsonl" summary env_steps)"
    updates="$(json_field "$work/b/metrics.jsonl" summary updates)"
    echo "breakout: $steps env steps, $updates updates"
    # The atari preset's ratio, 1 update per 4 env steps after learning_starts: 625 updates
    # for 2,500 steps, within one message per actor of it.
    [[ "$steps" -ge 3000 && "$updates" -ge 600 && "$updates" -le 660 ]] ||
      fail "expected >= 3000 steps and 600..660 updates"
    ;;
  stop-resume)
    "${mpi[@]}" -np 3 "$dqn" train --distributed --steps 200000 --set checkpoint_interval=5000 \
      --set eval_interval=0 --set final_eval_episodes=5 --out "$work/s" > "$work/s.log" 2>&1 &
    job=$!
    for _ in $(seq 600); do [[ -f "$work/s/checkpoint.dqn" ]] && break; sleep 0.1; done
    [[ -f "$work/s/checkpoint.dqn" ]] || { kill $job; fail "no checkpoint after 60 s"; }
    kill -INT $job
    wait $job || true  # mpirun reports the signal in its exit code
    cat "$work/s.log"
    grep -q "Continue it with" "$work/s.log" || fail "the stop was not reported"
    [[ -f "$work/s/snapshot.bin" ]] || fail "no snapshot.bin after Ctrl-C"
    if "${mpi[@]}" -np 4 "$dqn" resume "$work/s" > "$work/wrong.log" 2>&1; then
      fail "a job of 3 actors resumed with 4 ranks"
    fi
    grep -q "mpirun -np 3" "$work/wrong.log" || { cat "$work/wrong.log"; fail "no fix named"; }
    "${mpi[@]}" -np 3 "$dqn" resume "$work/s" > "$work/r.log" 2>&1 ||
      { cat "$work/r.log"; fail "resume failed"; }
    cat "$work/r.log"
    [[ -f "$work/s/model.dqn" && ! -f "$work/s/snapshot.bin" ]] ||
      fail "a finished job has model.dqn and no snapshot.bin"
    [[ "$(grep -c '"type":"resume"' "$work/s/metrics.jsonl")" -eq 1 ]] || fail "no resume line"
    steps="$(json_field "$work/s/metrics.jsonl" summary env_steps)"
    [[ "$steps" -ge 200000 ]] || fail "the resumed job stopped at $steps of 200000 steps"
    ;;
  rank-dies)
    "${mpi[@]}" -np 3 "$dqn" train --distributed --steps 100000000 \
      --set checkpoint_interval=2000 --set eval_interval=0 --out "$work/r" \
      > "$work/r.log" 2>&1 &
    job=$!
    for _ in $(seq 600); do [[ -f "$work/r/checkpoint.dqn" ]] && break; sleep 0.1; done
    [[ -f "$work/r/checkpoint.dqn" ]] || { kill $job; fail "no checkpoint after 60 s"; }
    # Rank 2, found by the rank mpirun gives each process in its environment.
    victim=""
    for pid in $(pgrep -f -- "--distributed --steps 100000000"); do
      if tr '\0' '\n' < /proc/$pid/environ 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=2'; then
        victim=$pid
      fi
    done
    [[ -n "$victim" ]] || { kill $job; fail "rank 2 not found"; }
    kill -9 "$victim"
    rc=0
    wait $job || rc=$?
    cat "$work/r.log"
    [[ $rc -ne 0 ]] || fail "the job exited 0 after a rank died"
    grep -qi "rank 2" "$work/r.log" || fail "the output does not name rank 2"
    "$dqn" info "$work/r/checkpoint.dqn" > "$work/info.txt" || fail "the checkpoint does not load"
    grep -q "env_steps" "$work/info.txt" || { cat "$work/info.txt"; fail "no env_steps in info"; }
    ;;
  *) fail "unknown case $case_name" ;;
esac
echo "ok: $case_name"
