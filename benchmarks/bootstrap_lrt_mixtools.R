# mixtools' bootstrap likelihood-ratio test of 1 against 2 regression components on one CSV
# (columns x, y), for comparison with mixexp.inference.bootstrap_lrt:
#     Rscript benchmarks/bootstrap_lrt_mixtools.R data.csv [B]
# (benchmarks/bootstrap_lrt_mixtools.py writes the data and runs mixexp on them.)
suppressMessages(library(mixtools))
args <- commandArgs(trailingOnly = TRUE)
B <- if (length(args) > 1) as.integer(args[2]) else 19
set.seed(1)
d <- read.csv(args[1])
t0 <- Sys.time()
b <- boot.comp(y = d$y, x = d$x, max.comp = 1, B = B, mix.type = "regmix", hist = FALSE)
cat("p.value", b$p.values, "\n")
cat("seconds", as.numeric(difftime(Sys.time(), t0, units = "secs")), "\n")
