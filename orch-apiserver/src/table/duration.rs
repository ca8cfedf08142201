//! Kubernetes' `duration.HumanDuration` (k8s.io/apimachinery/pkg/util/duration).

use chrono::TimeDelta;

/// A duration as Kubernetes prints ages: two or three significant figures,
/// as `duration.HumanDuration` does (k8s.io/apimachinery): `59s`, `119s`,
/// `2m1s`, `10m`, `179m`, `3h1m`, `8h`, `47h`, `2d1h`, `8d`, `729d`, `2y1d`,
/// `8y`. Less than two seconds in the future prints `0s` (clock skew);
/// further in the future, `<invalid>`. Units truncate, as Go's integer
/// division does.
pub fn human_duration(d: TimeDelta) -> String {
    // Go's time.Duration is an int64 of nanoseconds; TimeDelta can be longer.
    let nanos = d
        .num_nanoseconds()
        .map_or_else(|| i128::from(d.num_milliseconds()) * 1_000_000, i128::from);
    let seconds = nanos / 1_000_000_000;
    if seconds < -1 {
        return "<invalid>".to_owned();
    } else if seconds < 0 {
        return "0s".to_owned();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;
    const Y: i64 = 365 * D;

    /// The cases of apimachinery's `TestHumanDuration` and
    /// `TestHumanDurationBoundaries`, in milliseconds.
    #[test]
    fn matches_go_human_duration() {
        let cases: &[(i64, &str)] = &[
            (S, "1s"),
            (70 * S, "70s"),
            (190 * S, "3m10s"),
            (70 * M, "70m"),
            (47 * H, "47h"),
            (49 * H, "2d1h"),
            ((8 * 24 + 2) * H, "8d"),
            (367 * D, "367d"),
            (2 * Y + 25 * H, "2y1d"),
            (8 * Y + 2 * H, "8y"),
            (-2 * S, "<invalid>"),
            (-2 * S + 1, "0s"),
            (0, "0s"),
            (S - 1, "0s"),
            (2 * M - 1, "119s"),
            (2 * M, "2m"),
            (2 * M + S, "2m1s"),
            (10 * M - 1, "9m59s"),
            (10 * M, "10m"),
            (10 * M + S, "10m"),
            (3 * H - 1, "179m"),
            (3 * H, "3h"),
            (3 * H + M, "3h1m"),
            (8 * H - 1, "7h59m"),
            (8 * H, "8h"),
            (8 * H + 59 * M, "8h"),
            (2 * D - 1, "47h"),
            (2 * D, "2d"),
            (2 * D + H, "2d1h"),
            (8 * D - 1, "7d23h"),
            (8 * D, "8d"),
            (8 * D + 23 * H, "8d"),
            (2 * Y - 1, "729d"),
            (2 * Y, "2y"),
            (2 * Y + 23 * H + 59 * M, "2y"),
            (2 * Y + D - 1, "2y"),
            (2 * Y + D, "2y1d"),
            (3 * Y, "3y"),
            (7 * Y, "7y"),
            (8 * Y - 1, "7y364d"),
            (8 * Y, "8y"),
            (8 * Y + 364 * D, "8y"),
            (9 * Y, "9y"),
            // The examples of the brief: 5s, 3m20s, 10m, 3h4m, 2d3h, 40d, 2y30d.
            (5 * S, "5s"),
            (200 * S, "3m20s"),
            (3 * H + 4 * M, "3h4m"),
            (2 * D + 3 * H, "2d3h"),
            (40 * D, "40d"),
            (2 * Y + 30 * D, "2y30d"),
            (400 * Y, "400y"),
        ];
        for &(ms, want) in cases {
            assert_eq!(human_duration(TimeDelta::milliseconds(ms)), want, "{ms}ms");
        }
    }
}
