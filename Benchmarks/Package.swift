// swift-tools-version:6.1
// Micro-benchmarks of RingBus with ordo-one/benchmark (wall clock and malloc counts per operation):
//   swift package --package-path Benchmarks benchmark            # run them all
//   swift package --package-path Benchmarks benchmark --format jmh
// A package of its own, depending on the library by path, so the library's dependency graph stays
// small. The cross-process measurements are elsewhere: Benchmarks/compare (against the peers),
// Benchmarks/EventBusBench and Benchmarks/ring (with same-run references).
import PackageDescription

let package = Package(
    name: "RingBusBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "RingBus", path: ".."),
        // The trait keeps it from fetching a package this machine does not mirror (Docs: TOOLCHAIN).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "RingBusMicro",
            dependencies: [
                .product(name: "RingBus", package: "RingBus"),
                .product(name: "CRingBus", package: "RingBus"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/RingBusMicro",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
