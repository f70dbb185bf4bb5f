#!/bin/bash
# Build test/util into libgvtutil.a, then each test binary listed in
# $GVT/tests.list (gen_list.py's output) or given as arguments, with Debian's gtest/absl.
# Results: $GVT/bin/<test>, $GVT/build/logs/<test>.log, $GVT/build/built.txt,
# $GVT/build/failed.txt. Objects are cached in $GVT/build/obj (delete it to rebuild).
# Usage: build.sh [TEST...]      (env: GVT=/var/tmp/gvt, JOBS=2, LINK_ONLY=1 to only link)
set -uo pipefail
GVT=${GVT:-/var/tmp/gvt}
JOBS=${JOBS:-2}
SRC=$GVT/src; B=$GVT/build; BIN=$GVT/bin
mkdir -p "$B/util" "$B/logs" "$B/obj" "$BIN"
CXX="nice -n 19 g++"
CXXFLAGS="-std=c++17 -O0 -g0 -w -DGTEST_HAS_ABSL=0 -D_GNU_SOURCE -I$SRC -pthread"
ABSL_LIBS="-labsl_flags_parse -labsl_flags_usage -labsl_flags_usage_internal -labsl_flags_internal -labsl_flags_marshalling -labsl_flags_reflection -labsl_flags_config -labsl_flags_private_handle_accessor -labsl_flags_commandlineflag -labsl_flags_commandlineflag_internal -labsl_flags_program_name -labsl_raw_hash_set -labsl_hash -labsl_city -labsl_low_level_hash -labsl_synchronization -labsl_graphcycles_internal -labsl_time -labsl_civil_time -labsl_time_zone -labsl_str_format_internal -labsl_strings -labsl_strings_internal -labsl_int128 -labsl_symbolize -labsl_demangle_internal -labsl_stacktrace -labsl_debugging_internal -labsl_malloc_internal -labsl_base -labsl_spinlock_wait -labsl_throw_delegate -labsl_raw_logging_internal -labsl_log_severity -labsl_bad_optional_access -labsl_bad_variant_access"
ABSL_LIBS="$ABSL_LIBS -labsl_random_internal_pool_urbg -labsl_random_internal_randen -labsl_random_internal_randen_hwaes -labsl_random_internal_randen_hwaes_impl -labsl_random_internal_randen_slow -labsl_random_internal_platform -labsl_random_internal_seed_material -labsl_random_seed_gen_exception -labsl_random_distributions -labsl_status -labsl_cord -labsl_cord_internal -labsl_strerror"
LIBS="$B/libgvtutil.a -lgmock -lgtest -lbenchmark $ABSL_LIBS -lcap -lrt -pthread"

# --- util library -----------------------------------------------------------
if [ ! -f "$B/libgvtutil.a" ]; then
  UTIL=$(cd "$SRC/test/util" && ls *.cc | grep -v -e '_test\.cc$' -e '^fuchsia_' )
  echo "$UTIL" | xargs -P "$JOBS" -I{} sh -c \
    "$CXX $CXXFLAGS -c $SRC/test/util/{} -o $B/util/{}.o 2>$B/util/{}.err || echo 'util FAIL {}'"
  ar rcs "$B/libgvtutil.a" "$B"/util/*.o
fi

# --- test binaries ----------------------------------------------------------
# tests.list: "<name> <src.cc>..." ; compile every distinct source once, then link.
LIST=$GVT/tests.list
# per-invocation lists (a LINK_ONLY call may run while a full build runs)
SEL=$(mktemp "$B/sel.XXXXXX"); SRCS=$(mktemp "$B/srcs.XXXXXX"); trap 'rm -f "$SEL" "$SRCS"' EXIT
if [ $# -gt 0 ]; then
  for t in "$@"; do grep -E "^$t( |\$)" "$LIST"; done > "$SEL"
else
  grep -v '^#' "$LIST" | awk 'NF' > "$SEL"
fi
cut -d' ' -f2- "$SEL" | tr ' ' '\n' | awk 'NF' | sort -u > "$SRCS"
compile_one() {
  s=$1; o=$B/obj/${s%.cc}.o
  [ -f "$o" ] && return 0
  if $CXX $CXXFLAGS -c "$SRC/test/syscalls/linux/$s" -o "$o.tmp" >"$B/logs/obj-${s%.cc}.log" 2>&1; then
    mv "$o.tmp" "$o"; echo "compiled $s"
  else
    echo "COMPILE-FAIL $s"
  fi
}
export -f compile_one; export CXX CXXFLAGS SRC B
[ "${LINK_ONLY:-0}" = 1 ] || xargs -P "$JOBS" -I{} bash -c 'compile_one {}' < "$SRCS"
RUNF=$B/build-run.txt; [ "${LINK_ONLY:-0}" = 1 ] && RUNF=$B/link-only.txt
: > "$RUNF"
while read -r t srcs; do
  objs=""; ok=1
  for s in $srcs; do o=$B/obj/${s%.cc}.o; [ -f "$o" ] || ok=0; objs="$objs $o"; done
  if [ $ok = 1 ] && [ -x "$BIN/$t" ] && [ -z "$(find $objs -newer "$BIN/$t")" ]; then
    echo "OK $t" >> "$RUNF"            # up to date
  elif [ $ok = 1 ] && nice -n 19 g++ -pthread $objs -o "$BIN/$t" $LIBS >"$B/logs/$t.log" 2>&1; then
    echo "OK $t" >> "$RUNF"
  else
    echo "FAIL $t ($srcs)" >> "$RUNF"
  fi
done < "$SEL"
[ "${LINK_ONLY:-0}" = 1 ] && { cat "$RUNF"; exit 0; }
grep '^OK' "$B/build-run.txt" | awk '{print $2}' | sort -u > "$B/built.txt"
grep '^FAIL' "$B/build-run.txt" > "$B/failed.txt"
cat "$B/build-run.txt"
