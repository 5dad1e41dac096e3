module example.com/rng

go 1.27
