# Installs anon-pipeline's stage 1 on an offline Windows computer, from the wheels
# beside this script: no network is used (pip --no-index). Needs Python {python}
# for Windows (64-bit), installed with its "py" launcher.
#   powershell -ExecutionPolicy Bypass -File install.ps1 [VENV]   (default: .\venv)
param([string]$Venv = (Join-Path $PSScriptRoot "venv"))
$ErrorActionPreference = "Stop"
if ($env:PYTHON) { & $env:PYTHON -m venv $Venv } else { & py -{python} -m venv $Venv }
if ($LASTEXITCODE -ne 0) { throw "could not create the virtual environment $Venv (is Python {python} installed?)" }
$python = Join-Path $Venv "Scripts\python.exe"
& $python -m pip install --quiet --no-index --find-links (Join-Path $PSScriptRoot "wheels") anon_pipeline
if ($LASTEXITCODE -ne 0) { throw "pip could not install from the wheels beside this script" }
$command = Join-Path $Venv "Scripts\anon-pipeline.exe"
Write-Host "installed: $command"
Write-Host "check it:  $command blacklist --self-test"
Write-Host "stage 1:   $command blacklist D:\ E:\packages\CD0001 --key-file C:\anon\anon_pipeline.key"
