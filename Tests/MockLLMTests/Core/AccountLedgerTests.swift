import MockLLMCore
import Testing

@Suite struct AccountLedgerTests {
    @Test func parsesTheInlineAccountList() throws {
        let accounts = try AccountLimits.parseList("key1:rpm=60:tpm=100000:concurrency=8, key2:tpm=500,key3")
        #expect(
            accounts == [
                AccountLimits(key: "key1", requestsPerMinute: 60, tokensPerMinute: 100_000, maxConcurrency: 8),
                AccountLimits(key: "key2", tokensPerMinute: 500),
                AccountLimits(key: "key3"),
            ])
        #expect(throws: AccountSpecError.self) { try AccountLimits.parseList("key1:rpm=abc") }
        #expect(throws: AccountSpecError.self) { try AccountLimits.parseList("key1:burst=3") }
        #expect(throws: AccountSpecError.self) { try AccountLimits.parseList("k:rpm=1,k:rpm=2") }
    }

    @Test func unknownKeysAreRefused() {
        var ledger = AccountLedger(accounts: [AccountLimits(key: "a")], now: 0)
        #expect(ledger.admit(key: "b", tokens: 1, now: 0) == .unknownKey)
        #expect(!ledger.isOpen)
        #expect(AccountLedger(accounts: [], now: 0).isOpen)
    }

    @Test func requestsPastTheRPMWindowAre429WithTheWaitForOneRequest() {
        var ledger = AccountLedger(accounts: [AccountLimits(key: "a", requestsPerMinute: 60)], now: 0)
        for _ in 0..<60 {
            guard case .admitted = ledger.admit(key: "a", tokens: 0, now: 0) else {
                Issue.record("refused early"); return
            }
            ledger.release(key: "a", now: 0)
        }
        guard case .limited(let kind, let retryAfter, let status) = ledger.admit(key: "a", tokens: 0, now: 0) else {
            Issue.record("61st request admitted")
            return
        }
        #expect(kind == .requests)
        // 60 per minute refill one per second: the next request fits after exactly one second.
        #expect(abs(retryAfter - 1) < 1e-9)
        #expect(status.remainingRequests == 0)
        #expect(abs((status.resetRequestsSeconds ?? 0) - 60) < 1e-9)
        guard case .limited = ledger.admit(key: "a", tokens: 0, now: 0.5) else {
            Issue.record("admitted before refill"); return
        }
        guard case .admitted = ledger.admit(key: "a", tokens: 0, now: 1.0) else {
            Issue.record("refused after refill"); return
        }
    }

    @Test func tokensPastTheTPMWindowAre429WithTheWaitForTheMissingTokens() {
        var ledger = AccountLedger(accounts: [AccountLimits(key: "a", tokensPerMinute: 6_000)], now: 0)
        guard case .admitted(let status) = ledger.admit(key: "a", tokens: 5_000, now: 0) else {
            Issue.record("refused"); return
        }
        #expect(status.remainingTokens == 1_000)
        guard case .limited(let kind, let retryAfter, _) = ledger.admit(key: "a", tokens: 3_000, now: 0) else {
            Issue.record("admitted past TPM")
            return
        }
        #expect(kind == .tokens)
        // 2,000 tokens are missing at 100 tokens per second.
        #expect(abs(retryAfter - 20) < 1e-9)
        guard case .admitted = ledger.admit(key: "a", tokens: 3_000, now: 20) else {
            Issue.record("refused after the wait"); return
        }
    }

    @Test func theConcurrencyCapHoldsUntilARequestEnds() {
        var ledger = AccountLedger(accounts: [AccountLimits(key: "a", maxConcurrency: 2)], now: 0)
        let first = ledger.admit(key: "a", tokens: 0, now: 0)
        let second = ledger.admit(key: "a", tokens: 0, now: 0)
        #expect(first != .unknownKey && second != .unknownKey)
        guard case .limited(.concurrency, let retryAfter, _) = ledger.admit(key: "a", tokens: 0, now: 0) else {
            Issue.record("third concurrent request admitted")
            return
        }
        #expect(retryAfter > 0)
        ledger.release(key: "a", now: 1)
        guard case .admitted = ledger.admit(key: "a", tokens: 0, now: 1) else {
            Issue.record("refused after release"); return
        }
        #expect(ledger.inFlight(key: "a") == 2)
    }

    @Test func aRefusedRequestTakesNothingFromTheOtherWindows() {
        var ledger = AccountLedger(
            accounts: [AccountLimits(key: "a", requestsPerMinute: 10, tokensPerMinute: 100)], now: 0)
        guard case .limited(.tokens, _, let status) = ledger.admit(key: "a", tokens: 500, now: 0) else {
            Issue.record("admitted"); return
        }
        #expect(status.remainingRequests == 10)
    }

    @Test func refundsGiveUnusedTokensBack() {
        var ledger = AccountLedger(accounts: [AccountLimits(key: "a", tokensPerMinute: 1_000)], now: 0)
        _ = ledger.admit(key: "a", tokens: 800, now: 0)
        ledger.release(key: "a", refundTokens: 800, now: 0)
        guard case .admitted(let status) = ledger.admit(key: "a", tokens: 900, now: 0) else {
            Issue.record("refused"); return
        }
        #expect(status.remainingTokens == 100)
    }

    @Test func windowsScaleWithTheTimeScale() {
        var ledger = AccountLedger(
            accounts: [AccountLimits(key: "a", requestsPerMinute: 1)], windowSeconds: 0.6, now: 0)
        _ = ledger.admit(key: "a", tokens: 0, now: 0)
        guard case .limited(_, let retryAfter, _) = ledger.admit(key: "a", tokens: 0, now: 0) else {
            Issue.record("admitted"); return
        }
        #expect(abs(retryAfter - 0.6) < 1e-9)
    }

    @Test func headersUseOpenAIsNamesAndDurationFormat() {
        let status = RateLimitStatus(
            limitRequests: 60, remainingRequests: 59, resetRequestsSeconds: 1,
            limitTokens: 1000, remainingTokens: 10, resetTokensSeconds: 0.02
        )
        let headers = Dictionary(uniqueKeysWithValues: status.headers)
        #expect(headers["x-ratelimit-limit-requests"] == "60")
        #expect(headers["x-ratelimit-remaining-requests"] == "59")
        #expect(headers["x-ratelimit-reset-requests"] == "1s")
        #expect(headers["x-ratelimit-limit-tokens"] == "1000")
        #expect(headers["x-ratelimit-remaining-tokens"] == "10")
        #expect(headers["x-ratelimit-reset-tokens"] == "20ms")
        #expect(RateLimitStatus.format(360) == "6m0s")
        #expect(RateLimitStatus.format(1.5) == "1.5s")
        #expect(RateLimitStatus.format(3723.25) == "1h2m3.25s")
        #expect(RateLimitStatus().headers.isEmpty)
    }
}
