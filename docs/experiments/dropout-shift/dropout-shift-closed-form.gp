set datafile missing '?'
set title "Dropout(q) then BN, x ~ N(c, 1): eval variance / running variance"
set xlabel "dropout rate q"
set ylabel "variance ratio"
set key bottom right
set grid
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "dropout-shift-closed-form.png"
plot "dropout-shift-closed-form.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "formula, c = 0", "dropout-shift-closed-form.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "norma, c = 0", "dropout-shift-closed-form.dat" index 2 using 1:2 with linespoints lc 3 pt 7 ps 0.5 lw 2 title "formula, c = 1", "dropout-shift-closed-form.dat" index 3 using 1:2 with linespoints lc 4 pt 7 ps 0.5 lw 2 title "norma, c = 1"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "dropout-shift-closed-form.svg"
replot
set output
