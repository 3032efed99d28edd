@echo off
rem Installs anon-pipeline's stage 1 offline (see install.ps1): install.bat [VENV]
powershell -NoProfile -ExecutionPolicy Bypass -File "%~dp0install.ps1" %*
