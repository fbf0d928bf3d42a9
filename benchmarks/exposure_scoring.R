# The data of benchmarks/exposure_scoring.py, exported at run time from MASS (GPL: never written
# into the repository).
#
# Usage: Rscript benchmarks/exposure_scoring.R OUT.csv
#
# MASS::Insurance (64 rows): the columns of model.matrix(~ District + Group + Age) without the
# intercept (Group and Age are ordered factors: R's polynomial contrasts, the same column space as
# dummies), then Holders (the exposure) and Claims (the count), with 17 significant digits.
suppressPackageStartupMessages(library(MASS))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: exposure_scoring.R OUT.csv")
data(Insurance)
X <- model.matrix(~ District + Group + Age, Insurance)
X <- X[, colnames(X) != "(Intercept)", drop = FALSE]
df <- data.frame(X, Holders = Insurance$Holders, Claims = Insurance$Claims, check.names = FALSE)
cols <- lapply(df, function(v) sprintf("%.17g", as.numeric(v)))
names(cols) <- gsub("[^A-Za-z0-9_]", "_", names(df))
write.csv(as.data.frame(cols, stringsAsFactors = FALSE), args[1], row.names = FALSE, quote = FALSE)
