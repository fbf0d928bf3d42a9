# flexmix's classification EM: the reference side of benchmarks/cem_flexmix.py.
#
# Usage: Rscript benchmarks/cem_flexmix.R --out DIR [--nrep 5] [--seed 1]
#
# flexmix's NPreg (Leisch 2004), yn ~ x + I(x^2), K = 2, Gaussian experts, constant
# mixing weights.  NPreg is exported at run time from the installed package to
# DIR/npreg_cem.csv (do not commit: flexmix is GPL) with 17 significant digits, with two
# start partitions: NPreg's own class, and a random one (set.seed(seed)).
#
# Fits (flexmix's default control otherwise: iter.max 200, tolerance 1e-6, minprior 0.05):
#   cem_class   classify = "CEM", cluster = class           (a given start)
#   cem_random  classify = "CEM", cluster = the random start
#   em_class    classify = "weighted" (EM), cluster = class
#   cem_best    stepFlexmix(classify = "CEM", nrep = nrep)  (flexmix's own starts)
# and writes DIR/cem_flexmix.json: per fit flexmix's log-likelihood (logLik: the observed
# one, flexmix's last iteration), the iterations, each component's coefficients and
# sigma, the mixing weights of the final partition and flexmix's prior (the final
# posteriors' means), each row's cluster, with R's and
# flexmix's versions.
suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
opt <- list(out = NULL, nrep = 5L, seed = 1L)
i <- 1
while (i <= length(args)) {
  key <- sub("^--", "", args[i])
  if (!key %in% names(opt) || i == length(args)) stop("usage: cem_flexmix.R --out DIR [--nrep 5] [--seed 1]")
  opt[[key]] <- args[i + 1]
  i <- i + 2
}
if (is.null(opt$out)) stop("usage: cem_flexmix.R --out DIR [--nrep 5] [--seed 1]")
nrep <- as.integer(opt$nrep)
seed <- as.integer(opt$seed)
out <- opt$out
dir.create(out, recursive = TRUE, showWarnings = FALSE)
suppressWarnings(RNGversion("4.0.0"))

data("NPreg", package = "flexmix")
d <- NPreg
set.seed(seed)
random_start <- sample(1:2, nrow(d), replace = TRUE)
exported <- data.frame(x = d$x, yn = d$yn, class = d$class, random_start = random_start)
exported[] <- lapply(exported, function(v) if (is.double(v)) sprintf("%.17g", v) else v)
write.csv(exported, file.path(out, "npreg_cem.csv"), row.names = FALSE, quote = FALSE)

describe <- function(name, m, seconds) {
  p <- parameters(m)
  k <- length(m@size)
  list(
    name = name, loglik = as.numeric(logLik(m)), iter = m@iter, converged = m@converged,
    k = k, coef = unname(lapply(seq_len(k), function(j) as.numeric(p[1:3, j]))),
    sigma = as.numeric(p["sigma", ]),
    weights = as.numeric(tabulate(m@cluster, nbins = k) / length(m@cluster)),
    prior = as.numeric(m@prior),
    cluster = as.integer(m@cluster), seconds = seconds
  )
}

formula <- yn ~ x + I(x^2)
fits <- list()
run <- function(name, expr) {
  set.seed(seed)
  t0 <- proc.time()[["elapsed"]]
  m <- expr()
  fits[[length(fits) + 1]] <<- describe(name, m, proc.time()[["elapsed"]] - t0)
}
run("cem_class", function() flexmix(formula, data = d, cluster = d$class, control = list(classify = "CEM")))
run("cem_random", function() flexmix(formula, data = d, cluster = random_start, control = list(classify = "CEM")))
run("em_class", function() flexmix(formula, data = d, cluster = d$class))
run("cem_best", function() stepFlexmix(formula, data = d, k = 2, nrep = nrep, verbose = FALSE,
                                       control = list(classify = "CEM")))

write_json(list(fits = fits, R = R.version.string, flexmix = as.character(packageVersion("flexmix"))),
           file.path(out, "cem_flexmix.json"), digits = NA, auto_unbox = TRUE)
