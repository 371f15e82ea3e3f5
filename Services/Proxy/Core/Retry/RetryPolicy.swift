import Foundation

/// When a failed call is tried again on another account: only failures before the first byte reached the
/// client, only as many times as configured, and only when the backoff still fits before the deadline.
public struct RetryPolicy: Sendable, Equatable {
    /// Retries after the first attempt.
    public var maxRetries: Int
    /// Backoff before the first retry, in seconds; doubles each time.
    public var baseBackoff: Double
    /// Longest backoff, in seconds.
    public var maxBackoff: Double

    public init(maxRetries: Int = 2, baseBackoff: Double = 0.05, maxBackoff: Double = 2) {
        self.maxRetries = max(0, maxRetries)
        self.baseBackoff = max(0, baseBackoff)
        self.maxBackoff = max(self.baseBackoff, maxBackoff)
    }

    /// Whether this outcome is worth another account.
    public static func isRetryable(_ outcome: UpstreamAttemptOutcome) -> Bool {
        switch outcome {
        case .rateLimited, .serverError, .connectFailure, .timeout: return true
        case .success, .clientError, .cancelled: return false
        }
    }

    /// Seconds to wait before retry number `retry` (1-based), with `jitter` in 0...1 spreading it by ±25 %.
    public func backoff(retry: Int, jitter: Double) -> Double {
        let exponent = Double(max(0, retry - 1))
        let raw = min(maxBackoff, baseBackoff * pow(2, exponent))
        return raw * (0.75 + 0.5 * min(max(jitter, 0), 1))
    }

    /// The backoff before retry number `retry`, or nil when no retry should happen: too many tries already,
    /// an outcome not worth retrying, or a deadline (monotonic seconds) the backoff would pass.
    public func nextDelay(
        after outcome: UpstreamAttemptOutcome, retry: Int, now: Double, deadline: Double, jitter: Double
    ) -> Double? {
        guard Self.isRetryable(outcome), retry <= maxRetries else { return nil }
        let delay = backoff(retry: retry, jitter: jitter)
        return now + delay < deadline ? delay : nil
    }
}

/// Parses the upstream's `retry-after-ms` (milliseconds) and `Retry-After` (seconds or an HTTP date) headers.
public enum RetryAfter {
    /// Seconds to wait, preferring the millisecond header; nil when neither parses.
    public static func seconds(retryAfterMs: String?, retryAfter: String?, now: Date = Date()) -> Double? {
        if let text = retryAfterMs?.trimmingCharacters(in: .whitespaces), let milliseconds = Double(text),
            milliseconds >= 0
        {
            return milliseconds / 1000
        }
        guard let text = retryAfter?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let seconds = Double(text), seconds >= 0 { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}
