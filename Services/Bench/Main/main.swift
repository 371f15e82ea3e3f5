import Bench

await BenchEntryPoint.run()
