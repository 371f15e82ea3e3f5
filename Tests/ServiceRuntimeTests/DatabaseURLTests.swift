import ServiceRuntime
import Testing

@Suite struct DatabaseURLTests {
    @Test func readsEveryPartOfAPostgresURL() throws {
        let url = try DatabaseURL("postgres://maitre:s%40cret@db.internal:6543/queue?sslmode=require")
        #expect(url.host == "db.internal")
        #expect(url.port == 6543)
        #expect(url.user == "maitre")
        #expect(url.password == "s@cret")
        #expect(url.database == "queue")
        #expect(url.tls == .require)
    }

    @Test func defaultsToPort5432AndPreferredTLS() throws {
        let url = try DatabaseURL("postgresql://maitre@127.0.0.1/maitre")
        #expect(url.port == 5432)
        #expect(url.password == nil)
        #expect(url.tls == .prefer)
    }

    @Test func masksThePasswordWhenPrinted() throws {
        let url = try DatabaseURL("postgres://maitre:hunter2@db/queue")
        #expect(!url.description.contains("hunter2"))
        #expect(url.description.contains("maitre:***@db:5432/queue"))
    }

    @Test(arguments: [
        ("mysql://u@h/d", "must start with postgres://"),
        ("postgres://h/d", "names no user"),
        ("postgres://u@h", "names no database"),
        ("postgres://u@h/d?sslmode=verify-full", "sslmode=verify-full"),
        ("postgres://u@h/d?pool=4", "unknown parameter 'pool'"),
        ("not a url", "not a URL"),
    ])
    func refusesAMalformedURLSayingWhy(text: String, expected: String) {
        #expect {
            _ = try DatabaseURL(text)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }
}
