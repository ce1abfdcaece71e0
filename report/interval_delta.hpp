// The reading of one interval, from two cumulative readings of the same counter.
#pragma once

#include "protocol/messages.hpp"

namespace perfkvm::report {

// What perf stat -I prints for an interval: the raw count, time_enabled and time_running each
// advance by their difference, and the raw difference is scaled by this interval's own
// enabled/running ratio. The protocol's values are already scaled (value = raw * enabled /
// running), so the raw counts are recovered first; subtracting scaled values instead would
// mix two multiplexing ratios and can even go negative.
// A missing previous reading counts as zero; a missing current one gives no reading. Values
// that went backwards (untrusted input) give a zero difference rather than wrapping.
protocol::Cell interval_delta(const protocol::Cell& current, const protocol::Cell& previous);

// One reading of two disjoint periods (e.g. two intervals a region of interest spans): raw
// counts, time_enabled and time_running each add up, and the raw sum is scaled by the
// combined ratio, as a counter enabled for just those periods would have read. A missing
// reading adds nothing; two missing ones give no reading.
protocol::Cell combined(const protocol::Cell& first, const protocol::Cell& second);

}  // namespace perfkvm::report
