#!/usr/bin/env bash
# scripts/bench/legacy_flow.sh — the legacy Jenkins call pattern (reference
# trtllm-perf-infra.md §1.1: sync_and_run.sh + run_*_test.sh), for comparing wall times with
# perf-run on the same cluster and the same job. One new ssh/scp connection per step (no
# ControlMaster), `scp -r` of the whole checkout, scripts written over ssh, `sbatch`, then
# `sacct -j ID --format=State -Pn --allocations` every 30 s while the state is "", RUNNING,
# PENDING or CONFIGURING, then the exit code, then `scp -r` of the workspace back.
#
# usage: legacy_flow.sh HOST CHECKOUT RENDERED_DIR OUT_DIR
#   HOST          ssh destination (alias), e.g. slurm-login
#   CHECKOUT      the TensorRT-LLM checkout to copy (scp -r) to <workdir>/TensorRT-LLM
#   RENDERED_DIR  the files `perf-run render --workdir <workdir> --output-dir RENDERED_DIR`
#                 wrote (the same batch script perf-run submits; its plan.json names the paths)
#   OUT_DIR       where the job workspace is copied back
# env: LEGACY_POLL_S (30) seconds between sacct polls.
# Prints one line per step with its wall time, then `legacy: total <s> s job <id> state <S>`.
# Exit 0 iff the job ended COMPLETED with exit code 0 (as run_disagg_test.sh).
set -euo pipefail

host=${1:?HOST}
checkout=${2:?CHECKOUT}
rendered=${3:?RENDERED_DIR}
out=${4:?OUT_DIR}
poll=${LEGACY_POLL_S:-30}

no_mux=(-o ControlMaster=no -o ControlPath=none -o BatchMode=yes)
rssh() { ssh "${no_mux[@]}" -n "$host" "$@"; }
now() { date +%s.%N; }
t_start=$(now)
step_t=$t_start
step() {
  local t
  t=$(now)
  printf 'legacy: %-34s %6.2f s\n' "$1" "$(echo "$t - $step_t" | bc)"
  step_t=$t
}

workdir=$(jq -r .paths.workdir "$rendered/plan.json")
ws=$(jq -r .paths.job_workspace "$rendered/plan.json")
trt=$(jq -r .paths.trtllm_root "$rendered/plan.json")

# sync_and_run.sh: mkdir {scripts,workspace}; scp -r TensorRT-LLM; upload the scripts.
rssh "mkdir -p '$workdir/scripts' '$workdir/workspace' '$ws'"
step "ssh mkdir"
rssh "rm -rf '$trt'"
scp "${no_mux[@]}" -q -r "$checkout" "$host:$trt"
step "scp -r checkout"
# run_*_test.sh on the login node writes the test list, the launch prefix, the srun args and
# the generated launch script: one ssh each here.
for f in test_list.txt slurm_launch_prefix.sh slurm_srun_args.txt slurm_launch.sh; do
  # shellcheck disable=SC2029  # the path is meant to expand here, quoted for the remote shell
  ssh "${no_mux[@]}" "$host" "cat > '$ws/$f'" <"$rendered/$f"
done
step "ssh write 4 scripts"
job=$(rssh "cd '$ws' && sbatch slurm_launch.sh" | awk '{print $NF}')
step "ssh sbatch (job $job)"
polls=0
while :; do
  state=$(rssh "sacct -j $job --format=State -Pn --allocations" | head -n 1 | awk '{print $1}')
  polls=$((polls + 1))
  case $state in
    "" | RUNNING | PENDING | CONFIGURING | COMPLETING) sleep "$poll" ;;
    *) break ;;
  esac
done
step "ssh sacct poll x$polls (every ${poll}s)"
code=$(rssh "sacct -j $job --format=ExitCode -Pn --allocations" | head -n 1 | awk -F: '{print $1}')
step "ssh sacct exit code"
mkdir -p "$out"
scp "${no_mux[@]}" -q -r "$host:$ws" "$out/"
step "scp -r workspace back"
printf 'legacy: total %.2f s job %s state %s exit %s\n' "$(echo "$(now) - $t_start" | bc)" "$job" "$state" "$code"
[[ $state == COMPLETED && $code == 0 ]]
