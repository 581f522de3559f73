# Memory measurement helpers of bench/gateway.sh. Sourced; bash only.
#
#   proc_hwm_kb PID            VmHWM (peak RSS, kB) of one process, 0 if gone
#   mem_sampler OUT PID...     background loop (every 0.5 s): PID and its direct
#                              children (Postfix's master and the daemons it
#                              forks); keeps in OUT one line
#                              "PEAK_SUM_PSS_KB PEAK_SUM_RSS_KB PEAK_MAX_HWM_KB MAX_PROCS"
#                              PSS splits shared pages (libc, libssl, ...) among the
#                              processes mapping them, so a sum of PSS is the
#                              group's real footprint; a sum of RSS counts them once
#                              per process.

proc_hwm_kb() {
    local v
    v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true)
    echo "${v:-0}"
}

mem_sampler() { # mem_sampler OUT PID...
    set +e
    local out=$1; shift
    local roots=("$@")
    local peak_pss=0 peak_rss=0 peak_hwm=0 max_procs=0
    local pids p line pss rss hwm n
    echo "0 0 0 0" >"$out"
    while :; do
        pids=()
        for p in "${roots[@]}"; do
            [ -d "/proc/$p" ] || continue
            pids+=("$p")
            # shellcheck disable=SC2207
            pids+=($(pgrep -P "$p" 2>/dev/null || true))
        done
        if [ "${#pids[@]}" -gt 0 ]; then
            line=$(for p in "${pids[@]}"; do
                       awk '/^Pss:/ { s = $2 } /^Rss:/ { r = $2 } END { printf "%d %d ", s, r }' \
                           "/proc/$p/smaps_rollup" 2>/dev/null
                       awk '/^VmHWM:/ { printf "%d\n", $2 }' "/proc/$p/status" 2>/dev/null
                   done | awk 'NF == 3 { s += $1; r += $2; if ($3 > h) h = $3; n++ }
                               END { printf "%d %d %d %d\n", s, r, h, n }')
            read -r pss rss hwm n <<<"$line"
            [ "$pss" -gt "$peak_pss" ] && peak_pss=$pss
            [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
            [ "$hwm" -gt "$peak_hwm" ] && peak_hwm=$hwm
            [ "$n" -gt "$max_procs" ] && max_procs=$n
            echo "$peak_pss $peak_rss $peak_hwm $max_procs" >"$out.tmp" && mv "$out.tmp" "$out"
        fi
        sleep 0.5
    done
}
