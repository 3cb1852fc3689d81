#!/bin/bash
# Runs its arguments as the job's step (srun) and requeues the job when the step was stopped to be continued later.
# The sbatch files in this folder exec it; lit_rnn saves and exits 138 on SIGUSR1 and 143 on SIGTERM, and a requeued
# job runs the same command again, which goes on in the same run (fit's --job_id, a sweep's study).
#
# Requeued: after SIGUSR1 (the warning before the time limit, --signal=USR1@SECONDS; scancel --signal=USR1), after a
# SIGTERM sent to the job alone (scancel --signal=TERM), and at the time limit itself. Not requeued: a job cancelled
# (scancel), a job Slurm requeues by itself (scontrol requeue, a pre-emption with PreemptMode=REQUEUE), a step that
# finished or failed.
set -u

seconds() {  # Slurm's [DAYS-][HOURS:]MINUTES:SECONDS as seconds; UNLIMITED as none
    local time=$1 days=0 total=0 part
    [[ $time == *-* ]] && days=${time%%-*} && time=${time#*-}
    IFS=: read -ra parts <<< "$time"
    for part in "${parts[@]}"; do total=$((total * 60 + 10#$part)); done
    echo $((days * 86400 + total))
}

to_continue() {  # whether a step that ended with exit code $1 was stopped to be continued
    local state limit used
    case $1 in
        138) return 0 ;;  # SIGUSR1
        143) ;;           # SIGTERM: a stop, a cancel, or Slurm's own requeue
        *) return 1 ;;
    esac
    read -r state limit used < <(squeue --noheader --jobs "$job" --format "%T %l %M")
    [ "$state" = RUNNING ] && return 0  # the signal alone: Slurm is not ending the job
    [ "$limit" != UNLIMITED ] && [ "$(seconds "$used")" -ge "$(seconds "$limit")" ]  # ended by its time limit
}

# The job as scontrol and squeue name it: an array's task by ARRAY_TASK (its own SLURM_JOB_ID can be the array's ID,
# which names every task of the array).
job=${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}
job=${job:-$SLURM_JOB_ID}

trap 'echo "run_step.sh: SIGTERM: waiting for the step to save"' TERM  # the time limit, a cancel or requeue
srun "$@" &
step=$!
wait "$step"
code=$?
while kill -0 "$step" 2> /dev/null; do  # a signal to this shell ended the wait, not the step
    wait "$step"
    code=$?
done
if to_continue "$code"; then
    echo "run_step.sh: the step stopped with exit code $code after saving: requeueing job $job"
    scontrol requeue "$job"
    exit 0
fi
exit "$code"
