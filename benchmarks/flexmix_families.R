# flexmix's Poisson mixtures of regressions: the reference side of benchmarks/families_flexmix.py.
#
# Usage: Rscript benchmarks/flexmix_families.R --out DIR [--nrep 10] [--seed 1]
#
# Fits, for every data set, stepFlexmix(formula, k = K, nrep = nrep,
# model = FLXMRglm(family = "poisson", offset = ...), concomitant = ...) with
# flexmix's default control (iter.max 200, tolerance 1e-6, minprior 0.05) and
# records the best start's log-likelihood, its df (free parameters) and the
# number of components left (k_final).  set.seed(seed) before each data set.
#
# The examples of flexmix's own documentation (exported at run time from the
# installed package, never shipped: flexmix is GPL):
#   npreg    NPreg, yp ~ x, K = 2, constant mixing weights
#   patent   patent, Patents ~ lgRD, K = 3, concomitant ~ RDS
#   seizure  seizure, Seizures ~ Treatment * log(Day), offset log(Hours), K = 2
# written to DIR/data/<name>.csv (do not commit) with 17 significant digits.
# Simulated data sets written by the Python side to DIR/sim/<name>.csv (columns
# x1, x2, ..., optional exposure, y) are fitted with the model named in
# DIR/sim/models.csv (name, K, expert_columns, gate_columns, exposure: 0/1).
#
# Writes DIR/flexmix_families.json: one entry per data set (loglik, df,
# k_final, iter, seconds) with R and flexmix versions.
suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
opt <- list(out = NULL, nrep = 10L, seed = 1L)
i <- 1
while (i <= length(args)) {
  key <- sub("^--", "", args[i])
  if (!key %in% names(opt) || i == length(args)) stop("usage: flexmix_families.R --out DIR [--nrep 10] [--seed 1]")
  opt[[key]] <- args[i + 1]
  i <- i + 2
}
if (is.null(opt$out)) stop("usage: flexmix_families.R --out DIR [--nrep 10] [--seed 1]")
nrep <- as.integer(opt$nrep)
seed <- as.integer(opt$seed)
out <- opt$out
dir.create(file.path(out, "data"), recursive = TRUE, showWarnings = FALSE)
suppressWarnings(RNGversion("4.0.0"))

write_exact <- function(d, path) {
  d[] <- lapply(d, function(v) if (is.double(v)) sprintf("%.17g", v) else v)
  write.csv(d, path, row.names = FALSE, quote = FALSE)
}

# ---- flexmix's examples -------------------------------------------------------
data("NPreg", package = "flexmix")
data("patent", package = "flexmix")
data("seizure", package = "flexmix")
npreg <- data.frame(x = NPreg$x, y = as.numeric(NPreg$yp))
patent_d <- data.frame(lgRD = patent$lgRD, RDS = patent$RDS, y = as.numeric(patent$Patents))
treat <- as.numeric(seizure$Treatment == "Yes")
seiz <- data.frame(treatment = treat, log_day = log(seizure$Day), treatment_log_day = treat * log(seizure$Day),
                   exposure = as.numeric(seizure$Hours), y = as.numeric(seizure$Seizures))
write_exact(npreg, file.path(out, "data", "npreg.csv"))
write_exact(patent_d, file.path(out, "data", "patent.csv"))
write_exact(seiz, file.path(out, "data", "seizure.csv"))

sets <- list(
  npreg = list(data = npreg, formula = y ~ x, k = 2, conc = NULL, offset = NULL),
  patent = list(data = patent_d, formula = y ~ lgRD, k = 3, conc = ~RDS, offset = NULL),
  seizure = list(data = seiz, formula = y ~ treatment + log_day + treatment_log_day, k = 2,
                 conc = NULL, offset = log(seiz$exposure))
)

# ---- simulated data sets of the Python side -------------------------------------
models_path <- file.path(out, "sim", "models.csv")
if (file.exists(models_path)) {
  models <- read.csv(models_path, stringsAsFactors = FALSE)
  for (r in seq_len(nrow(models))) {
    m <- models[r, ]
    d <- read.csv(file.path(out, "sim", paste0(m$name, ".csv")))
    ex <- strsplit(m$expert_columns, " ")[[1]]
    ga <- if (nchar(m$gate_columns)) strsplit(m$gate_columns, " ")[[1]] else character(0)
    sets[[m$name]] <- list(
      data = d,
      formula = as.formula(paste("y ~", paste(ex, collapse = " + "))),
      k = m$K,
      conc = if (length(ga)) as.formula(paste("~", paste(ga, collapse = " + "))) else NULL,
      offset = if (m$exposure == 1) log(d$exposure) else NULL
    )
  }
}

results <- list()
for (name in names(sets)) {
  s <- sets[[name]]
  set.seed(seed)
  model <- FLXMRglm(family = "poisson", offset = s$offset)
  start <- proc.time()[["elapsed"]]
  fit <- if (is.null(s$conc)) {
    stepFlexmix(s$formula, data = s$data, k = s$k, nrep = nrep, model = model, verbose = FALSE)
  } else {
    stepFlexmix(s$formula, data = s$data, k = s$k, nrep = nrep, model = model,
                concomitant = FLXPmultinom(s$conc), verbose = FALSE)
  }
  seconds <- proc.time()[["elapsed"]] - start
  ll <- logLik(fit)
  results[[name]] <- list(loglik = as.numeric(ll), df = attr(ll, "df"), k_final = fit@k,
                          iter = fit@iter, converged = fit@converged, n = nrow(s$data),
                          seconds_all_starts = seconds, nrep = nrep)
  cat(sprintf("%-12s loglik %.4f df %d k %d (%.1fs)\n", name, as.numeric(ll), attr(ll, "df"), fit@k, seconds))
}
info <- list(results = results, seed = seed, nrep = nrep, r_version = R.version.string,
             flexmix = as.character(packageVersion("flexmix")),
             control = "flexmix defaults: iter.max 200, tolerance 1e-6, minprior 0.05")
writeLines(toJSON(info, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out, "flexmix_families.json"))
