// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "maitre",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "maitre-predictor", targets: ["MaitrePredictor"]),
        .executable(name: "maitre-scheduler", targets: ["MaitreScheduler"]),
        .executable(name: "maitre-proxy", targets: ["MaitreProxy"]),
        .executable(name: "maitre-mock-llm", targets: ["MaitreMockLLM"]),
        .executable(name: "maitre-bench", targets: ["MaitreBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // Shared modules.
        .target(name: "Contracts", path: "Shared/Contracts", swiftSettings: swiftSettings),
        .target(
            name: "ServiceRuntime",
            dependencies: [
                "Contracts",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Shared/ServiceRuntime",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ProcessLauncher",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Shared/ProcessLauncher",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PostgresSupport",
            dependencies: [
                "ServiceRuntime",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/PostgresSupport",
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CBLAS", path: "Shared/CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .target(name: "FastKernels", path: "Shared/FastKernels"),
        .target(
            name: "TextEngine",
            dependencies: ["CBLAS", "FastKernels", .product(name: "Logging", package: "swift-log")],
            path: "Shared/TextEngine",
            swiftSettings: swiftSettings),

        // Predictor.
        .target(
            name: "PredictorCore",
            dependencies: ["Contracts", "TextEngine", "CBLAS"],
            path: "Services/Predictor/Core",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Predictor",
            dependencies: [
                "PredictorCore", "ServiceRuntime", "TextEngine", "PostgresSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/Predictor/Service",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MaitrePredictor", dependencies: ["Predictor"], path: "Services/Predictor/Main",
            swiftSettings: swiftSettings),

        // Scheduler.
        .target(
            name: "SchedulerCore", dependencies: ["Contracts"], path: "Services/Scheduler/Core",
            swiftSettings: swiftSettings),
        .target(
            name: "Scheduler",
            dependencies: [
                "SchedulerCore", "ServiceRuntime", "PostgresSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Services/Scheduler/Service",
            // The operator page, compiled into the binary: no resource bundle to install beside it.
            resources: [
                .embedInCode("OperatorPage/Assets/page.html"),
                .embedInCode("OperatorPage/Assets/page.css"),
                .embedInCode("OperatorPage/Assets/page.js"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MaitreScheduler", dependencies: ["Scheduler"], path: "Services/Scheduler/Main",
            swiftSettings: swiftSettings),

        // Proxy.
        .target(
            name: "ProxyCore", dependencies: ["Contracts"], path: "Services/Proxy/Core", swiftSettings: swiftSettings),
        .target(
            name: "Proxy",
            dependencies: [
                "ProxyCore", "ServiceRuntime", "TextEngine", "PostgresSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Services/Proxy/Service",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MaitreProxy", dependencies: ["Proxy"], path: "Services/Proxy/Main", swiftSettings: swiftSettings),

        // Simulated upstream.
        .target(
            name: "MockLLMCore", dependencies: ["Contracts", "TextEngine"], path: "Services/MockLLM/Core",
            swiftSettings: swiftSettings),
        .target(
            name: "MockLLM",
            dependencies: [
                "MockLLMCore", "ServiceRuntime", "TextEngine",
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Services/MockLLM/Service",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MaitreMockLLM", dependencies: ["MockLLM"], path: "Services/MockLLM/Main",
            swiftSettings: swiftSettings),

        // Benchmarks and the virtual-time simulator.
        .target(
            name: "Bench",
            dependencies: [
                "SchedulerCore", "MockLLMCore", "PredictorCore", "TextEngine", "ServiceRuntime", "ProcessLauncher",
                "PostgresSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Services/Bench/Library",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MaitreBench",
            dependencies: ["Bench", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Services/Bench/Main", swiftSettings: swiftSettings),

        // Tests.
        .testTarget(
            name: "ContractsTests", dependencies: ["Contracts"], path: "Tests/ContractsTests",
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ServiceRuntimeTests",
            dependencies: ["ServiceRuntime", .product(name: "HummingbirdTesting", package: "hummingbird")],
            path: "Tests/ServiceRuntimeTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TextEngineTests", dependencies: ["TextEngine", "FastKernels"], path: "Tests/TextEngineTests",
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PredictorTests",
            dependencies: ["Predictor", "PredictorCore", .product(name: "HummingbirdTesting", package: "hummingbird")],
            path: "Tests/PredictorTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SchedulerTests",
            dependencies: [
                "Scheduler", "SchedulerCore", "PostgresSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/SchedulerTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProxyTests",
            dependencies: [
                "Proxy", "ProxyCore", "TextEngine", .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Tests/ProxyTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MockLLMTests",
            dependencies: [
                "MockLLM", "MockLLMCore", "TextEngine", .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/MockLLMTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BenchTests", dependencies: ["Bench", "SchedulerCore", "MockLLMCore", "Contracts"],
            path: "Tests/BenchTests", swiftSettings: swiftSettings),
        .testTarget(
            name: "DeploymentTests",
            dependencies: [
                "Contracts", "ServiceRuntime", "Predictor", "Scheduler", "Proxy", "MockLLM", "ProcessLauncher",
                "TextEngine",
                .product(name: "Yams", package: "Yams"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/DeploymentTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Contracts", "ProcessLauncher",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/IntegrationTests",
            swiftSettings: swiftSettings
        ),
    ]
)
